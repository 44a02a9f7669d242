// The extension's uninstall hook (package.json "vscode:uninstall": VS Code runs it with Node once the extension is
// removed and VS Code restarted): takes every Verdant entry out of the OS scheduler, so that nothing runs at night
// for an extension that is gone (#23). The queue and ledger go with the extension's global storage.
import { osSchedulerOnce } from './core/scheduling/osScheduler';
import { errorMessage } from './core/errors';

async function main(): Promise<void> {
  const scheduler = await osSchedulerOnce()();
  if ('unavailable' in scheduler) return;
  for (const id of await scheduler.list()) await scheduler.remove(id);
}

main().catch((e: unknown) => {
  console.error(`verdant uninstall: could not remove the OS scheduler's entries: ${errorMessage(e)}`);
  process.exitCode = 1;
});
