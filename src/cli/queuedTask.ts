// A deferred palette task (Summarize, Generate Tests, Explain, Ask) run by the OS scheduler with VS Code closed
// (#23): the input captured when it was queued, the prompt the window would have sent, the local model the entry
// names (never the cloud: that needs the window's key and the workspace's consent), the answer written beside the
// job for the next window to open, and one ledger record at the intensity of its planned window.
import { promises as fs } from 'node:fs';
import { detectDevice, osFacts } from '../core/carbon/energy/devices';
import { plannedIntensity } from '../core/carbon/jobRecord';
import { Ledger } from '../core/carbon/ledger';
import { sciForLocalUsage } from '../core/carbon/sci';
import { formatGrams } from '../core/carbon/dashboardData';
import type { Job } from '../core/scheduling/queue';
import { ModelCalls, strip } from '../core/tasks/calls';
import { isDeferrable, TASKS, type TaskContext } from '../core/tasks/table';
import { LlamaEngine } from '../engine/llama/engine';
import type { GpuChoice } from '../core/settings';

export interface TaskModel {
  readonly modelPath: string;
  readonly gpu: GpuChoice;
  readonly threads: number;
}

function contextOf(payload: unknown): TaskContext {
  const p = payload as Partial<Record<keyof TaskContext, unknown>> | null;
  if (!p || typeof p.languageId !== 'string' || typeof p.filePath !== 'string' || typeof p.code !== 'string')
    throw new Error('its captured input is not a file, a language and code: queue it again from VS Code.');
  return { languageId: p.languageId, filePath: p.filePath, code: p.code, ...(typeof p.instruction === 'string' && { instruction: p.instruction }) };
}

/** Runs the job's task on `model`, writes the answer to `resultFile` (0600) and its record to the ledger; 0 when done. */
export async function runQueuedTask(job: Job, model: TaskModel, files: { readonly resultFile: string; readonly ledgerDir: string }): Promise<number> {
  if (job.spec.kind !== 'task' || !isDeferrable(job.spec.task)) throw new Error(`job ${job.id} is not a palette task that can wait.`);
  const kind = job.spec.task;
  const ctx = contextOf(job.spec.payload);
  const engine = await LlamaEngine.load({ modelPath: model.modelPath, gpu: model.gpu, threads: model.threads, contextSize: 0, sequences: 1 });
  try {
    const ledger = new Ledger({ dir: files.ledgerDir });
    const labels = [
      `deferred job ${job.id}`,
      'run by the OS scheduler with VS Code closed',
      'intensity: the forecast for its window, or the annual average',
    ];
    const calls = new ModelCalls({
      local: {
        generate: (request, options) => engine.generate(request, options),
        record: async (usage) => {
          const record = sciForLocalUsage(usage, detectDevice(osFacts(), usage.backend), plannedIntensity(job), undefined, {
            measuredJoules: usage.measuredJoules,
            labels,
          });
          await ledger.append(record);
          return record;
        },
      },
    });
    const o = strip(
      await calls.chatLocal('task', TASKS[kind].prompt(ctx), {
        purpose: 'background',
        reason: 'deferred; run by the OS scheduler with VS Code closed',
      }),
    );
    const title = `${TASKS[kind].title} ${ctx.filePath}`;
    const recorded = o.grams !== undefined ? ` · ${formatGrams(o.grams)} CO2e recorded` : '';
    const when = new Date().toLocaleString();
    await fs.writeFile(
      files.resultFile,
      `# ${title}\n\n*Route: local · model ${o.model}${recorded} · ran at ${when} with VS Code closed (the cloud is never used then)*\n\n${o.text}\n`,
      {
        mode: 0o600,
      },
    );
    return 0;
  } finally {
    await engine.dispose();
  }
}
