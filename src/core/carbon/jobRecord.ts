// The ledger record of a deferred shell job that ran (#23): its energy is the package energy RAPL measured over the
// run where it can be read, else the device profile's watts over the run time (an estimate: a build may use more
// or fewer cores than inference does); its intensity is the forecast for the window it was planned into. The
// baseline is the same job on the same grid (there is no cloud version of a shell command): savedG is 0, and what
// deferring saved is said in the labels, never counted as avoided.
import { buildSciRecord, localEmbodied, type SciIntensity } from './sci';
import { estimateLocal } from './energy/local';
import type { DeviceProfile } from './energy/devices';
import { lookupGridAverage } from './sources/embedded';
import type { SciRecord, SourceId } from './types';
import type { Job } from '../scheduling/queue';

export const DEFERRED_JOB_FEATURE = 'deferred-job';

export interface JobRun {
  readonly startedAt: number;
  readonly endedAt: number;
  readonly exitCode: number | null;
  /** RAPL package energy over the run, J. */
  readonly measuredJoules?: number;
}

/** The grid a job ran on with no live reading at hand: the forecast for its planned window, else the zone's annual average. */
export function plannedIntensity(job: Pick<Job, 'plan' | 'zone'>): SciIntensity {
  const forecast = job.plan.windowGPerKWh;
  return forecast !== null
    ? { gPerKWh: forecast, source: job.plan.source as SourceId, zone: job.zone, signal: 'average', isEstimated: true }
    : { gPerKWh: lookupGridAverage(job.zone).gPerKWh, source: 'embedded', zone: job.zone, signal: 'average', isEstimated: true };
}

export function sciForDeferredJob(job: Job, run: JobRun, device: DeviceProfile): SciRecord {
  const ms = Math.max(0, run.endedAt - run.startedAt);
  const energy = estimateLocal({ engineMs: ms, device, measuredJoules: run.measuredJoules });
  const embodied = localEmbodied(device, ms / 1000);
  const forecast = job.plan.windowGPerKWh;
  const intensity = plannedIntensity(job);
  const side = { energy, embodiedG: embodied.g, embodiedRangeG: embodied.rangeG, intensity };
  const labels = [
    `deferred job ${job.id}: ${job.spec.label}`,
    `exit code ${run.exitCode ?? 'none (killed)'}`,
    forecast !== null ? `intensity: the forecast for its window (${job.plan.source})` : 'intensity: the annual average (no forecast)',
    ...(forecast !== null && job.plan.nowGPerKWh !== null && !job.plan.runNow
      ? [`deferred: ${Math.round(forecast)} g/kWh in its window against ${Math.round(job.plan.nowGPerKWh)} g/kWh when queued`]
      : []),
  ];
  return buildSciRecord({
    ts: new Date(run.startedAt).toISOString(),
    route: 'local',
    feature: DEFERRED_JOB_FEATURE,
    model: 'shell command',
    tokens: { in: 0, out: 0 },
    ...side,
    baseline: { model: 'the same job', ...side },
    labels,
  });
}
