// Deferred work in VS Code: the `verdant` task type (tasks.json: {"type": "verdant", "command": "...", "within":
// "12h", "duration": "30m"}) queues a shell command for the cleanest window of the grid forecast, and "Run Task
// When Clean…" does the same for a palette task with its input captured now. The queue lives in global storage and
// is shared by every window (src/core/scheduling): each job starts exactly once. The window whose task terminal is
// waiting runs the command in that terminal; if that window is gone (reloaded, closed), another window of the same
// workspace runs it as a shell task after a short grace period. Jobs carry their origin (workspace, trust, consent)
// and are signed (src/core/scheduling/signing.ts): a window of another workspace never runs them, one that is
// trusted now does not give an untrusted window's job the cloud, and a job file nobody signed is never run.
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Config } from '../config';
import { parseDuration } from '../core/carbon/window';
import { DEFERRABLE_TASKS, DEFERRED_TASK_MINUTES, isDeferrable, type TaskContext, type TaskKind } from '../core/tasks/table';
import { JobQueue, type Job, type JobOrigin, type JobSigner, type JobSpec } from '../core/scheduling/queue';
import { Scheduler } from '../core/scheduling/scheduler';
import { OS_SESSION, runsOutsideVsCode, type OsHandoff } from '../core/scheduling/osHandoff';
import { taskModelFlags } from '../core/localRoles';
import type { VerdantSettings } from '../core/settings';
import type { CarbonAccounting } from './carbonAccounting';
import type { Refactors } from './refactor';
import type { StepOutcome } from '../core/refactor/steps';
import type { Tasks } from './tasks';
import { errorMessage } from '../core/errors';
import { showFailure } from './unawaited';

export const SCHEDULER_COMMANDS = {
  showJobs: 'verdant.showDeferredJobs',
  runWhenClean: 'verdant.runTaskWhenClean',
  removeScheduled: 'verdant.removeScheduledJobs',
} as const;

/** globalState: ids of jobs the OS scheduler ran that a window has already told the user about. */
const REPORTED_KEY = 'verdant.scheduler.reportedOsRuns';

export const TASK_TYPE = 'verdant';

/** tasks.json's {"type": "verdant", ...}. */
interface VerdantTaskDefinition extends vscode.TaskDefinition {
  readonly command: string;
  /** Must be done within this long from when it is queued (default 12h). */
  readonly within?: string;
  /** How long it runs (default 30m). */
  readonly duration?: string;
  readonly cwd?: string;
}

/** Finished jobs stay listed this long. */
const KEEP_FINISHED_MS = 7 * 24 * 3_600_000;
/**
 * Another window may take over a job whose own window has not started it this long after it became due; the OS
 * scheduler's entry fires as late, so an open window runs its own job (in its terminal) first.
 */
export const TAKE_OVER_AFTER_MS = 2 * 60 * 1000;

export interface SchedulerDeps {
  readonly config: Config;
  readonly carbon: Pick<CarbonAccounting, 'forecast'>;
  readonly tasks: Pick<Tasks, 'runCaptured' | 'showResult'>;
  /** Deferred refactor plans ("Run When Clean" in the plan list). */
  readonly refactors: Pick<Refactors, 'runDeferred' | 'reviewRanElsewhere'>;
  readonly stateDir: string;
  readonly log: vscode.LogOutputChannel;
  /** Signs and checks the queue's job files (hmacSigner, keyed from SecretStorage). */
  readonly signer: JobSigner;
  /** This window's workspace, trust and consent now: stamped on the jobs it queues, compared with theirs. */
  readonly origin: () => JobOrigin;
  /** The OS scheduler's side (#23): hands queued jobs over so they run with VS Code closed. */
  readonly handoff: OsHandoff;
  /** Remembers which runs by the OS scheduler were reported. */
  readonly globalState: vscode.Memento;
  /** Injected for tests; Date.now otherwise. */
  readonly now?: () => number;
}

/** What identifies this window's workspace across windows and restarts. */
export function workspaceIdentity(): string {
  const file = vscode.workspace.workspaceFile;
  if (file && file.scheme !== 'untitled') return file.toString();
  return (vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.toString()).join('\n');
}

/** The cloud only when it was allowed where the job was queued and is allowed here. */
export function cloudAllowed(origin: JobOrigin, here: JobOrigin): boolean {
  return origin.trusted && here.trusted && origin.consent === 'granted' && here.consent === 'granted';
}

/** A task terminal in this window waiting for its job's window. */
interface Waiter {
  readonly run: (signal: AbortSignal) => Promise<number | null>;
}

/** What the OS entries depend on in the settings. */
function handOverKey(settings: VerdantSettings): string {
  const { whenClosed, wakeToRun, runWhenLoggedOff } = settings.scheduler;
  return JSON.stringify([whenClosed, wakeToRun, runWhenLoggedOff, taskModelFlags(settings)]);
}

function clock(ms: number): string {
  return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

export class DeferredJobs implements vscode.Disposable {
  readonly queue: JobQueue;
  readonly scheduler: Scheduler;
  private readonly waiters = new Map<string, Waiter>();
  private readonly session = vscode.env.sessionId;
  private readonly disposables: vscode.Disposable[] = [];
  private readonly changed = new vscode.EventEmitter<Job>();
  /** Fires when a job is queued, replanned, started, finished or cancelled. */
  readonly onDidChange = this.changed.event;
  private whenClosed: 'os' | 'never';
  private handOver: string;
  /** Resolves once the OS entries were brought in line with the queue and earlier OS runs were reported. */
  readonly osReady: Promise<void>;
  private osChanges: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: SchedulerDeps) {
    const now = deps.now ?? Date.now;
    this.whenClosed = deps.config.settings.scheduler.whenClosed;
    this.handOver = handOverKey(deps.config.settings);
    this.queue = new JobQueue({ dir: path.join(deps.stateDir, 'jobs'), signer: deps.signer });
    this.scheduler = new Scheduler({
      queue: this.queue,
      now,
      setTimer: (fn, ms) => {
        const t = setTimeout(fn, Math.max(0, Math.min(ms, 2 ** 31 - 1)));
        return { cancel: () => clearTimeout(t) };
      },
      forecast: () => deps.carbon.forecast(),
      run: (job, signal) => this.run(job, signal),
      mayRun: (job) => this.mayRun(job, now()),
      owner: { pid: process.pid, host: os.hostname(), session: this.session },
      isAlive: (pid) => {
        try {
          process.kill(pid, 0);
          return true;
        } catch (e) {
          return (e as NodeJS.ErrnoException).code === 'EPERM';
        }
      },
      onEvent: (e) => this.onEvent(e.type, e.job),
      log: (m) => deps.log.info(`scheduler: ${m}`),
    });
    this.disposables.push(
      this.changed,
      vscode.tasks.registerTaskProvider(TASK_TYPE, {
        provideTasks: () => [],
        resolveTask: (task) => this.resolveTask(task),
      }),
      vscode.commands.registerCommand(SCHEDULER_COMMANDS.showJobs, () => this.showJobs()),
      vscode.commands.registerCommand(SCHEDULER_COMMANDS.runWhenClean, (kind?: TaskKind, within?: string) => this.runTaskWhenClean(kind, within)),
      vscode.commands.registerCommand(SCHEDULER_COMMANDS.removeScheduled, () => this.removeScheduled()),
      deps.config.onDidChange(() => {
        // The entries change with whenClosed, wake and logged-off runs, and a task's entry with the model it names.
        const handOver = handOverKey(deps.config.settings);
        if (handOver !== this.handOver) {
          this.handOver = handOver;
          this.whenClosed = deps.config.settings.scheduler.whenClosed;
          void this.syncOsEntries();
        }
      }),
    );
    void this.scheduler.start().catch((e) => deps.log.error(`scheduler: could not start: ${errorMessage(e)}`));
    // Off the activation path: the OS scheduler's commands take a moment.
    this.osReady = this.syncOsEntries()
      .then(() => this.reportOsRuns())
      .then(() => undefined);
    void this.queue.prune(KEEP_FINISHED_MS).catch((e) => deps.log.warn(`scheduler: could not prune finished jobs: ${errorMessage(e)}`));
  }

  dispose(): void {
    this.scheduler.stop();
    for (const d of this.disposables) d.dispose();
  }

  /** Queues a job for the cleanest window before `withinMinutes` from now; it runs in this window when due. */
  enqueue(spec: JobSpec, withinMinutes: number, durationMinutes: number): Promise<Job> {
    // Jobs queued here run here (their terminal, their review); other windows take over only if this one is gone.
    return this.scheduler.enqueue(
      { ...spec, session: spec.session ?? this.session, origin: this.deps.origin() },
      { within: withinMinutes, durationMinutes, zone: this.deps.config.settings.carbon.zone },
    );
  }

  /**
   * This window runs its own terminal's jobs and palette jobs it queued; a job queued by another window of the same
   * workspace only when that window has let it sit for TAKE_OVER_AFTER_MS past its start (the window is gone).
   * Another workspace's jobs never: their paths and commands mean something else here.
   */
  private mayRun(job: Job, now: number): boolean {
    if (job.spec.origin?.workspace !== this.deps.origin().workspace) return false;
    if (job.spec.kind === 'shell' && this.waiters.has(job.id)) return true;
    const queuedHere = job.spec.session === this.session;
    if (queuedHere && job.spec.kind === 'task') return true;
    const due = Math.min(job.plan.start, job.deadline - job.durationMinutes * 60_000);
    return now >= due + TAKE_OVER_AFTER_MS;
  }

  private async run(job: Job, signal: AbortSignal): Promise<{ exitCode: number | null }> {
    const origin = job.spec.origin;
    const here = this.deps.origin();
    if (!origin || origin.workspace !== here.workspace) throw new Error('It was queued in another workspace; open that workspace to run it.');
    if (job.spec.kind === 'shell') {
      const waiter = this.waiters.get(job.id);
      if (waiter) return { exitCode: await waiter.run(signal) };
      if (!here.trusted || !origin.trusted) throw new Error('Commands run only in a trusted workspace; trust this workspace and queue it again.');
      return { exitCode: await this.runAsShellTask(job, job.spec.command, job.spec.cwd) };
    }
    const cloud = cloudAllowed(origin, here);
    if (job.spec.task === 'refactor') {
      // The job is done when the review opened and the user decided (or the refactor stopped: failed).
      const r = await this.deps.refactors.runDeferred(job.spec.payload, { cloud });
      return { exitCode: r.state === 'applied' || r.state === 'discarded' ? 0 : 1 };
    }
    const kind = job.spec.task;
    if (!isDeferrable(kind)) throw new Error(`Unknown deferred task '${kind}'.`);
    const outcome = await this.deps.tasks.runCaptured(kind, job.spec.payload as TaskContext, { cloud });
    return { exitCode: outcome ? 0 : 1 };
  }

  /** A job whose terminal went away with its window: run it as a visible shell task here. */
  private async runAsShellTask(job: Job, command: string, cwd: string | undefined): Promise<number | null> {
    const folder = vscode.workspace.workspaceFolders?.[0];
    const task = new vscode.Task(
      { type: TASK_TYPE, command, jobId: job.id },
      folder ?? vscode.TaskScope.Global,
      job.spec.label,
      'verdant',
      new vscode.ShellExecution(command, cwd ? { cwd } : {}),
    );
    const execution = await vscode.tasks.executeTask(task);
    return new Promise((resolve) => {
      const sub = vscode.tasks.onDidEndTaskProcess((e) => {
        if (e.execution !== execution) return;
        sub.dispose();
        resolve(e.exitCode ?? null);
      });
    });
  }

  /**
   * Brings the OS scheduler's entries in line with this queue: with whenClosed 'os', every job that can run with VS
   * Code closed has one (made again where it vanished, pointed at this version of the extension); otherwise none of
   * this queue's jobs has one. Failures are logged: the jobs still run while a window is open.
   */
  private syncOsEntries(): Promise<void> {
    return this.inOrder(() => this.syncNow());
  }

  private async syncNow(): Promise<void> {
    try {
      const { jobs } = await this.queue.list();
      const { registered, removed } = await this.deps.handoff.sync(jobs, this.whenClosed === 'os');
      if (registered.length + removed.length > 0)
        this.deps.log.info(
          `scheduler: OS entries: ${registered.length} in place, ${removed.length} removed (verdant.scheduler.whenClosed: ${this.whenClosed})`,
        );
    } catch (e) {
      this.deps.log.warn(`scheduler: could not update the OS scheduler's entries: ${errorMessage(e)}`);
    }
  }

  /**
   * Moves a job's OS entry with its plan, or removes it once the job started here, was cancelled or interrupted. A
   * job that cannot run outside VS Code never had one, and one that finished here lost it when it started.
   */
  private updateOsEntry(type: string, job: Job): void {
    if (type === 'finished' || !runsOutsideVsCode(job)) return;
    const handOver = (type === 'queued' || type === 'replanned') && this.whenClosed === 'os';
    void this.inOrder<unknown>(() => (handOver ? this.deps.handoff.handOff(job) : this.deps.handoff.withdraw(job.id))).catch((e: unknown) =>
      this.deps.log.warn(`scheduler: job ${job.id}: the OS scheduler's entry was not updated: ${errorMessage(e)}`),
    );
  }

  /** One change to the OS scheduler at a time, in event order: a job queued and started at once ends without an entry. */
  private inOrder<T>(change: () => Promise<T>): Promise<T> {
    const next = this.osChanges.then(change);
    this.osChanges = next.catch(() => undefined);
    return next;
  }

  /** Says once what the OS scheduler ran while no window was open: when, at what intensity, its exit code, its log. */
  async reportOsRuns(): Promise<string[]> {
    const reported = new Set(this.deps.globalState.get<string[]>(REPORTED_KEY) ?? []);
    const { jobs } = await this.queue.list().catch(() => ({ jobs: [] as Job[] }));
    const ran = jobs.filter((j) => j.owner?.session === OS_SESSION && j.state !== 'running' && !reported.has(j.id));
    if (ran.length === 0) return [];
    // Only ids still in the queue are kept: pruned jobs drop out of the list.
    await this.deps.globalState.update(REPORTED_KEY, [...jobs.filter((j) => reported.has(j.id)).map((j) => j.id), ...ran.map((j) => j.id)]);
    for (const job of ran) {
      const at = job.startedAt !== undefined ? new Date(job.startedAt).toLocaleString() : 'its time';
      const grid = job.plan.windowGPerKWh !== null ? ` at ${Math.round(job.plan.windowGPerKWh)} g/kWh` : '';
      const kind = job.spec.kind === 'shell' ? 'shell' : job.spec.task === 'refactor' ? 'refactor' : 'task';
      const done = job.state === 'done';
      const how = !done
        ? `${job.state}${job.exitCode !== undefined && job.exitCode !== null ? `, exit code ${job.exitCode}` : ''}${job.error ? ` (${job.error})` : ''}`
        : kind === 'shell'
          ? 'exit code 0'
          : kind === 'refactor'
            ? 'its edits wait for your review'
            : 'done, on the local model';
      const text = `Verdant: "${job.spec.label}" ran at ${at}${grid} while VS Code was closed: ${how}.`;
      this.deps.log.info(`scheduler: ${text}`);
      const button = !done || kind === 'shell' ? 'Open Log' : kind === 'refactor' ? 'Review' : 'Open Result';
      const show = done ? vscode.window.showInformationMessage(text, button) : vscode.window.showWarningMessage(text, button);
      void show.then((choice) => (choice ? showFailure(this.openRanWhileClosed(job, choice)) : undefined));
    }
    return ran.map((j) => j.id);
  }

  /**
   * What the report's button opens of a job the OS scheduler ran: its log ('Open Log'), a palette task's answer
   * ('Open Result'), or a refactor's edits in the review ('Review').
   */
  async openRanWhileClosed(job: Job, choice: string): Promise<void> {
    if (choice === 'Open Log') {
      await vscode.window.showTextDocument(vscode.Uri.file(this.queue.logPath(job.id)), { preview: true });
    } else if (choice === 'Open Result') {
      const answer = await fs.readFile(this.queue.resultPath(job.id), 'utf8');
      await this.deps.tasks.showResult(/^# (.*)$/m.exec(answer)?.[1] ?? job.spec.label, answer);
    } else if (choice === 'Review' && job.spec.kind === 'task') {
      const { steps } = JSON.parse(await fs.readFile(this.queue.editsPath(job.id), 'utf8')) as { steps: StepOutcome[] };
      await this.deps.refactors.reviewRanElsewhere(job.spec.payload, steps);
    }
  }

  /** Takes every Verdant entry out of the OS scheduler; the jobs stay queued and run while a window is open. */
  private async removeScheduled(): Promise<number> {
    const removed = await this.deps.handoff.removeAll();
    const keepOut = 'Stop Handing Jobs Over';
    void vscode.window
      .showInformationMessage(
        `Verdant: ${removed === 0 ? 'no entry was' : removed === 1 ? '1 entry was' : `${removed} entries were`} in the OS scheduler${removed > 0 ? ' and removed' : ''}. Queued jobs now run only while VS Code is open${this.whenClosed === 'os' ? '; the next window hands them over again unless you stop it' : ''}.`,
        ...(this.whenClosed === 'os' ? [keepOut] : []),
      )
      .then((choice) =>
        choice === keepOut
          ? vscode.workspace.getConfiguration('verdant').update('scheduler.whenClosed', 'never', vscode.ConfigurationTarget.Global)
          : undefined,
      );
    return removed;
  }

  private onEvent(type: string, job: Job): void {
    this.changed.fire(job);
    this.updateOsEntry(type, job);
    const loud = this.deps.config.settings.scheduler.notifications === 'normal';
    const say = (text: string) => {
      this.deps.log.info(`deferred job ${job.id} (${job.spec.label}): ${text}`);
      if (loud) void vscode.window.showInformationMessage(`Verdant: ${job.spec.label}: ${text}`);
      else vscode.window.setStatusBarMessage(`$(clock) Verdant: ${job.spec.label}: ${text}`, 8000);
    };
    switch (type) {
      case 'queued':
        return say(job.plan.runNow ? `running now (${job.plan.reason})` : `waiting for ${clock(job.plan.start)} (${job.plan.savingPct} % cleaner)`);
      case 'replanned':
        return say(`new forecast: now at ${clock(job.plan.start)} (${job.plan.savingPct} % cleaner)`);
      case 'started':
        return say('started in its clean window');
      case 'finished':
        return say(
          job.state === 'done'
            ? 'done'
            : `ended: ${job.state}${job.exitCode !== undefined && job.exitCode !== null ? ` (exit code ${job.exitCode})` : ''}${job.error ? `: ${job.error}` : ''}`,
        );
      case 'interrupted':
        return say('was running in a window that closed; it was not restarted (queue it again to run it)');
      case 'cancelled':
        return say('cancelled');
      default:
        return undefined;
    }
  }

  private resolveTask(task: vscode.Task): vscode.Task | undefined {
    const def = task.definition as VerdantTaskDefinition;
    if (typeof def.command !== 'string' || def.command.trim() === '') return undefined;
    const folder = task.scope !== undefined && typeof task.scope === 'object' ? task.scope : undefined;
    return new vscode.Task(
      def,
      task.scope ?? vscode.TaskScope.Workspace,
      task.name,
      'verdant',
      // The resolved definition has tasks.json's variables (${workspaceFolder}, ${env:…}) substituted.
      new vscode.CustomExecution(async (resolved) => this.terminal(resolved as VerdantTaskDefinition, task.name, folder)),
    );
  }

  /** The task's terminal: queues the job, says when it will run, then runs the command in its window. */
  private terminal(def: VerdantTaskDefinition, name: string, folder: vscode.WorkspaceFolder | undefined): vscode.Pseudoterminal {
    const write = new vscode.EventEmitter<string>();
    const close = new vscode.EventEmitter<number>();
    const line = (text: string) => write.fire(`${text.replace(/\r?\n/g, '\r\n')}\r\n`);
    const cwd = def.cwd ? path.resolve(folder?.uri.fsPath ?? '', def.cwd) : folder?.uri.fsPath;
    let job: Job | undefined;
    let child: ChildProcess | undefined;
    return {
      onDidWrite: write.event,
      onDidClose: close.event,
      open: () => {
        let within: number;
        let duration: number;
        try {
          within = parseDuration(def.within ?? '12h');
          duration = parseDuration(def.duration ?? '30m');
        } catch (e) {
          line(`Verdant: ${errorMessage(e)} (in the task's "within" / "duration")`);
          close.fire(2);
          return;
        }
        const spec: JobSpec = { kind: 'shell', command: def.command, label: name, ...(cwd ? { cwd } : {}) };
        void this.enqueue({ ...spec, session: this.session }, within, duration).then(
          (queued) => {
            job = queued;
            line(
              `Verdant: ${queued.plan.runNow ? 'running now' : `waiting until ${new Date(queued.plan.start).toLocaleString()}`}: ${queued.plan.reason}`,
            );
            line(`Command: ${def.command}${cwd ? ` (in ${cwd})` : ''}. Close this terminal to cancel; Verdant: Show Deferred Jobs lists the queue.`);
            this.waiters.set(queued.id, {
              run: (signal) =>
                new Promise((resolve) => {
                  line(`Verdant: started at ${new Date().toLocaleTimeString()}`);
                  child = spawn(def.command, { shell: true, cwd, env: process.env });
                  const forward = (d: Buffer) => write.fire(d.toString().replace(/\r?\n/g, '\r\n'));
                  child.stdout?.on('data', forward);
                  child.stderr?.on('data', forward);
                  const abort = () => child?.kill();
                  signal.addEventListener('abort', abort, { once: true });
                  child.on('error', (e) => {
                    line(`Verdant: could not start the command: ${e.message}`);
                    resolve(127);
                  });
                  child.on('close', (code, sig) => {
                    signal.removeEventListener('abort', abort);
                    this.waiters.delete(queued.id);
                    const exit = code ?? (sig ? 128 + (os.constants.signals[sig] ?? 0) : null);
                    line(`Verdant: ended with exit code ${exit}`);
                    close.fire(exit ?? 1);
                    resolve(exit);
                  });
                }),
            });
            void this.scheduler.tick();
          },
          (e) => {
            line(`Verdant: could not queue the job: ${errorMessage(e)}`);
            close.fire(1);
          },
        );
      },
      close: () => {
        // The user closed the terminal: cancel a job still waiting, stop one that runs.
        if (job) {
          this.waiters.delete(job.id);
          void this.scheduler.cancel(job.id).catch(() => undefined);
        }
        child?.kill();
      },
    };
  }

  /** Queues a palette task with its input as it is now. */
  private async runTaskWhenClean(given?: TaskKind, withinGiven?: string): Promise<Job | undefined> {
    const editor = vscode.window.activeTextEditor;
    if (!editor) {
      void vscode.window.showInformationMessage('Verdant: open the file to work on first.');
      return undefined;
    }
    const kind =
      given ??
      (
        await vscode.window.showQuickPick(
          DEFERRABLE_TASKS.map((k) => ({ label: k, task: k })),
          { title: 'Verdant: Run Task When Clean', placeHolder: 'Which task?' },
        )
      )?.task;
    if (!kind) return undefined;
    // A command argument is not checked by its type: only a deferrable task can be queued.
    if (!isDeferrable(kind)) {
      void vscode.window.showErrorMessage(`Verdant: '${String(kind)}' cannot run when clean; choose one of ${DEFERRABLE_TASKS.join(', ')}.`);
      return undefined;
    }
    const withinText =
      withinGiven ??
      (await vscode.window.showInputBox({ title: 'Verdant: Run Task When Clean', prompt: 'Done within (e.g. 4h, 12h, 1d)', value: '12h' }));
    if (!withinText) return undefined;
    let within: number;
    try {
      within = parseDuration(withinText);
    } catch (e) {
      void vscode.window.showErrorMessage(`Verdant: ${errorMessage(e)}`);
      return undefined;
    }
    const doc = editor.document;
    const code = editor.selection.isEmpty ? doc.getText() : doc.getText(editor.selection);
    const ctx: TaskContext = { languageId: doc.languageId, filePath: vscode.workspace.asRelativePath(doc.uri), code };
    const spec: JobSpec = { kind: 'task', task: kind, payload: ctx, label: `${kind} ${ctx.filePath}`, session: this.session };
    return this.enqueue(spec, within, DEFERRED_TASK_MINUTES);
  }

  /** The queue in a quick pick: run now, cancel, or change the deadline. Returns the jobs listed. */
  private async showJobs(): Promise<Job[]> {
    const { jobs, problems } = await this.queue.list();
    for (const p of problems) this.deps.log.warn(`scheduler: ${p}`);
    const run = { iconPath: new vscode.ThemeIcon('play'), tooltip: 'Run now' };
    const cancel = { iconPath: new vscode.ThemeIcon('close'), tooltip: 'Cancel' };
    const deadline = { iconPath: new vscode.ThemeIcon('calendar'), tooltip: 'Change deadline' };
    const items = jobs.map((j) => ({
      label: `${j.state === 'queued' ? '$(clock)' : j.state === 'running' ? '$(loading~spin)' : j.state === 'done' ? '$(check)' : '$(error)'} ${j.spec.label}`,
      description:
        j.state === 'queued' ? `${clock(j.plan.start)} · ${j.plan.savingPct} % cleaner · by ${new Date(j.deadline).toLocaleString()}` : j.state,
      detail: j.plan.reason,
      buttons: j.state === 'queued' ? [run, deadline, cancel] : [],
      job: j,
    }));
    const pick = vscode.window.createQuickPick<(typeof items)[number]>();
    pick.title = 'Verdant: Deferred Jobs';
    pick.placeholder = items.length ? 'Queued and recent jobs' : 'Nothing is queued';
    pick.items = items;
    // A job that started or went meanwhile, or a deadline that is not a duration, is said, not dropped.
    pick.onDidTriggerItemButton((e) => {
      pick.hide();
      const id = e.item.job.id;
      if (e.button === run) showFailure(this.scheduler.runNow(id));
      else if (e.button === cancel) showFailure(this.scheduler.cancel(id));
      else showFailure(this.askDeadline(e.item.job));
    });
    pick.onDidHide(() => pick.dispose());
    pick.show();
    return jobs;
  }

  private async askDeadline(job: Job): Promise<void> {
    const text = await vscode.window.showInputBox({
      title: `Verdant: new deadline for ${job.spec.label}`,
      prompt: 'Done within (from now), e.g. 6h',
      value: '12h',
    });
    if (text) await this.scheduler.setDeadline(job.id, (this.deps.now ?? Date.now)() + parseDuration(text) * 60_000);
  }
}
