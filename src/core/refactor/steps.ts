// One step of a planned refactor: its prompt (only the context the step needs), the model's answer, and the edits
// it names, resolved against the files' texts (each applies once, none overlap). The window runs steps on their
// routes; `verdant run-queued-job` runs a deferred plan's steps on the local model with VS Code closed (#23), both
// through here.
import { stepContext } from './context';
import { EditError, parseEditBlocks, resolveEdits } from './edits';
import type { FileEdit, PlanStep, RefactorContext, RefactorPlan } from './types';
import type { ChatMessage } from '../inference/types';

/** Tokens of code and context one step may carry. */
export const STEP_BUDGET_TOKENS = 3000;
/** Longest answer a step may give. */
export const STEP_MAX_TOKENS = 2048;

export type StepOutcome = {
  readonly id: number;
  readonly route: 'local' | 'cloud';
  readonly grams: number | undefined;
  readonly recordIds: readonly string[];
  readonly edits: readonly FileEdit[];
  readonly tokens: number;
};

/** What a deferred refactor job carries: everything needed to run the plan later, in any window or with none. */
export interface DeferredRefactor {
  readonly ctx: RefactorContext;
  readonly plan: RefactorPlan;
  readonly routes: readonly { id: number; route: 'local' | 'cloud'; enabled: boolean }[];
}

/** The model call a step makes on its route. */
export type StepCall = (
  messages: ChatMessage[],
) => Promise<{ readonly text: string; readonly grams: number | undefined; readonly recordIds: readonly string[] }>;

export async function runRefactorStep(step: PlanStep, ctx: RefactorContext, route: 'local' | 'cloud', call: StepCall): Promise<StepOutcome> {
  const c = stepContext(step, ctx, { budgetTokens: STEP_BUDGET_TOKENS });
  const out = await call(c.messages);
  const texts = new Map(ctx.files.map((f) => [f.path, f.text] as const));
  try {
    const edits = resolveEdits(parseEditBlocks(out.text), texts, step.files);
    return { id: step.id, route, grams: out.grams, recordIds: out.recordIds, edits, tokens: c.tokens };
  } catch (e) {
    if (e instanceof EditError) throw new Error(`the ${route} model's edits were rejected: ${e.message}`);
    throw e;
  }
}

/** The deferred plan's steps that run, in order; undefined when the payload is not a plan (a damaged queue file). */
export function stepsToRun(payload: unknown): { ctx: RefactorContext; steps: { step: PlanStep; route: 'local' | 'cloud' }[] } | undefined {
  const p = payload as Partial<DeferredRefactor> | undefined;
  if (!p?.ctx || !Array.isArray(p.ctx.files) || !p.plan || !Array.isArray(p.plan.steps) || !Array.isArray(p.routes)) return undefined;
  const routes = p.routes;
  const steps = p.plan.steps.flatMap((step) => {
    const chosen = routes.find((r) => r.id === step.id);
    return (chosen?.enabled ?? true) ? [{ step, route: chosen?.route === 'cloud' ? ('cloud' as const) : ('local' as const) }] : [];
  });
  return { ctx: p.ctx, steps };
}
