// The cascade (FrugalGPT-style): a local draft first; the classifier, now seeing the draft's confidence, keeps it or
// escalates to the cloud. A draft that fails (too long for the local context, engine error) escalates too, since
// the cloud can still answer. Both attempts are the caller's to record. Orchestration only: the steps are passed in.
import type { CascadeVerdict } from './policy';
import { errorMessage } from '../errors';

export interface CascadeSteps<D, R> {
  /** The local attempt (not shown to the user yet). */
  draft(): Promise<D>;
  /** Keep or escalate, given the draft. */
  judge(draft: D): Promise<CascadeVerdict>;
  /** Whether the cloud may be used now (asks for consent when it has not been given yet). */
  mayEscalate(): Promise<boolean>;
  escalate(): Promise<R>;
  /** A cancellation is never escalated. */
  isCancel(e: unknown): boolean;
}

export type CascadeResult<D, R> =
  | {
      readonly result: D;
      readonly draft: D;
      readonly escalated: false;
      readonly reason: string;
    }
  | {
      readonly result: R;
      /** The local draft, when it completed (its carbon counts too). */
      readonly draft?: D;
      readonly escalated: true;
      readonly reason: string;
    };

export async function runCascade<D, R>(steps: CascadeSteps<D, R>): Promise<CascadeResult<D, R>> {
  let draft: D;
  try {
    draft = await steps.draft();
  } catch (e) {
    if (steps.isCancel(e) || !(await steps.mayEscalate())) throw e;
    return { result: await steps.escalate(), escalated: true, reason: `the local draft failed (${errorMessage(e)}): escalated to the cloud` };
  }
  const verdict = await steps.judge(draft);
  if (!verdict.escalate) return { result: draft, draft, escalated: false, reason: verdict.reason };
  if (!(await steps.mayEscalate()))
    return {
      result: draft,
      draft,
      escalated: false,
      reason: `${verdict.reason.replace(/: escalated to the cloud$/, '')}, but the cloud may not be used: kept`,
    };
  return { result: await steps.escalate(), draft, escalated: true, reason: verdict.reason };
}
