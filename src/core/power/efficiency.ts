// Efficiency Mode (verdant.local.efficiencyMode): at what OS priority Verdant's engine worker runs. Work nobody waits
// on (a deferred job, a refactor queued for the clean window, a KV-cache warm-up) should not take CPU from what the
// user is doing; work the user waits on (a completion, a palette task run now) should not be slowed by that.
import type { WorkPurpose } from '../inference/types';

export const EFFICIENCY_MODES = ['background', 'always', 'off'] as const;
/** 'background': low priority when started for background work; 'always': always low; 'off': never lowered. */
export type EfficiencyMode = (typeof EFFICIENCY_MODES)[number];

/** The priority a request asks the engine worker for: 'low' is the OS's lowest (nice 19, Windows' Idle class). */
export type EnginePriority = 'low' | 'normal';

export function enginePriority(mode: EfficiencyMode, purpose: WorkPurpose): EnginePriority {
  if (mode === 'always') return 'low';
  if (mode === 'off') return 'normal';
  return purpose === 'background' ? 'low' : 'normal';
}
