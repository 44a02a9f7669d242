// Energy of one local inference: engine time x the device's power, or the RAPL-measured joules when the package
// counter was readable. kWh = W x s / 3.6e6.
import type { EnergyEstimate } from '../types';
import type { DeviceProfile } from './devices';

export const JOULES_PER_KWH = 3.6e6;

export interface LocalEnergyInput {
  /** Engine wall time (prompt evaluation + decoding), ms. */
  readonly engineMs: number;
  readonly device: Pick<DeviceProfile, 'watts' | 'method'>;
  /** Package energy measured over the same span (RaplMeter), J. */
  readonly measuredJoules?: number;
}

/**
 * Estimated: typical watts x time, range from the profile's low and high watts, method 'device-profile' or
 * 'tdp-model'. Measured: the joules as given, a zero-width range, method 'rapl' (package only: RAM, display and
 * the rest of the machine are outside it).
 */
export function estimateLocal(input: LocalEnergyInput): EnergyEstimate {
  const { engineMs, device, measuredJoules } = input;
  if (!Number.isFinite(engineMs) || engineMs < 0) throw new RangeError(`engineMs must be a finite number >= 0, got ${engineMs}`);
  if (measuredJoules !== undefined) {
    if (!Number.isFinite(measuredJoules) || measuredJoules < 0) throw new RangeError(`measuredJoules must be >= 0, got ${measuredJoules}`);
    const kWh = measuredJoules / JOULES_PER_KWH;
    return { kWh, rangeKWh: [kWh, kWh], method: 'rapl', measured: true };
  }
  const seconds = engineMs / 1000;
  const kWhAt = (watts: number) => (watts * seconds) / JOULES_PER_KWH;
  return {
    kWh: kWhAt(device.watts.typical),
    rangeKWh: [kWhAt(device.watts.low), kWhAt(device.watts.high)],
    method: device.method,
    measured: false,
  };
}
