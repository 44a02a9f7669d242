// A deferred palette task (Summarize, Generate Tests, Explain, Ask) or planned refactor run by the OS scheduler with
// VS Code closed (#23): the input captured when it was queued, the prompts the window would have sent, the local
// model the entry names (never the cloud: that needs the window's key and the workspace's consent), the answer or
// the steps' edits written beside the job for the next window to open or review, and one ledger record per model
// call at the intensity of its planned window.
import { promises as fs } from 'node:fs';
import { detectDevice, osFacts } from '../core/carbon/energy/devices';
import { plannedIntensity } from '../core/carbon/jobRecord';
import { Ledger } from '../core/carbon/ledger';
import { sciForLocalUsage } from '../core/carbon/sci';
import { formatGrams } from '../core/carbon/dashboardData';
import type { Job } from '../core/scheduling/queue';
import { ModelCalls, strip } from '../core/tasks/calls';
import { isDeferrable, TASKS, type TaskContext } from '../core/tasks/table';
import { runRefactorStep, STEP_MAX_TOKENS, stepsToRun, type StepOutcome } from '../core/refactor/steps';
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

/**
 * Runs the job's task on `model` and writes what it gave beside the job (0600): a palette task's answer as markdown
 * (`resultFile`), a planned refactor's step edits as JSON (`editsFile`, for the next window's review); each model
 * call's record goes to the ledger. 0 when done.
 */
export async function runQueuedTask(
  job: Job,
  model: TaskModel,
  files: { readonly resultFile: string; readonly editsFile: string; readonly ledgerDir: string },
): Promise<number> {
  if (job.spec.kind !== 'task' || !(isDeferrable(job.spec.task) || job.spec.task === 'refactor'))
    throw new Error(`job ${job.id} is not a palette task or planned refactor that can wait.`);
  const kind = job.spec.task;
  const plan = kind === 'refactor' ? stepsToRun(job.spec.payload) : undefined;
  if (kind === 'refactor' && !plan) throw new Error('its plan is damaged: plan the refactor again from VS Code.');
  const ctx = plan ? undefined : contextOf(job.spec.payload);
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
    if (plan) {
      // Step by step on the local model; a step whose edits are rejected stops the run (nothing is applied anyway).
      // A small model's context keeps half for the step's code.
      const contextSize = (await engine.info()).contextSize ?? STEP_MAX_TOKENS * 2;
      const maxTokens = Math.min(STEP_MAX_TOKENS, Math.floor(contextSize / 2));
      const outcomes: StepOutcome[] = [];
      for (const { step } of plan.steps)
        outcomes.push(
          await runRefactorStep(step, plan.ctx, 'local', (messages) =>
            calls.call('local', 'refactor-step', messages, { maxTokens, reason: 'refactor', purpose: 'background' }),
          ),
        );
      await fs.writeFile(files.editsFile, JSON.stringify({ v: 1, steps: outcomes }), { mode: 0o600 });
      return 0;
    }
    if (!ctx || !isDeferrable(kind)) throw new Error(`job ${job.id} has no captured input.`);
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
