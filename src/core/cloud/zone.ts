// Where a cloud endpoint's electricity comes from: the one rule the router's estimate and the ledger's record share,
// so that a request is routed and recorded at the same grid (issue #17).
import { presetForUrl, presetZone, type CloudPreset } from './presets';

/** Why the zone is what it is: the user's verdant.cloud.zone, the preset (its region from the host), the user's own grid, or unknown. */
export type ZoneOrigin = 'setting' | 'preset' | 'local' | 'unknown';

export interface EndpointZone {
  /** Zone for the intensity lookup; '' when unknown (the World average). */
  readonly zone: string;
  readonly origin: ZoneOrigin;
  /** For the record's labels, e.g. "grid zone SE from verdant.cloud.zone". */
  readonly detail: string;
}

export interface EndpointZoneFacts {
  readonly endpoint: string;
  /** verdant.cloud.zone ('' = from the preset). */
  readonly zoneSetting: string;
  /** verdant.carbon.zone: a self-hosted endpoint runs on the user's own grid. */
  readonly localZone: string;
}

/** verdant.cloud.zone, else the endpoint's preset (a self-hosted one: the user's zone), else unknown (World, marked). */
export function endpointZone(f: EndpointZoneFacts): EndpointZone {
  const setting = f.zoneSetting.trim();
  if (setting !== '') return { zone: setting, origin: 'setting', detail: `grid zone ${setting} from verdant.cloud.zone` };
  const preset = presetForUrl(f.endpoint);
  if (preset === undefined)
    return { zone: '', origin: 'unknown', detail: 'grid zone unknown (no preset for this endpoint, verdant.cloud.zone unset): World average' };
  const zone = presetZone(preset, f.endpoint);
  if (zone === '') {
    const local = f.localZone.trim();
    return { zone: local, origin: 'local', detail: `grid zone ${local || 'unknown (World average)'}: your own, for a self-hosted endpoint` };
  }
  if (zone === 'WORLD') return { zone, origin: 'unknown', detail: `grid zone unknown for ${preset.name}: World average` };
  return { zone, origin: 'preset', detail: `grid zone ${zone} of ${preset.name}` };
}

/**
 * What Configure Cloud Endpoint keeps in verdant.cloud.zone for `url` set up from `chosen`: '' when the URL finds its
 * own preset (its zone follows the host), the chosen preset's zone when the URL does not (Green AI Cloud: SE), and
 * undefined when neither knows (a custom URL: ask the user).
 */
export function setupZone(chosen: CloudPreset, url: string): string | undefined {
  if (presetForUrl(url) !== undefined) return '';
  return chosen.gridZone !== '' && chosen.gridZone !== 'WORLD' ? chosen.gridZone : undefined;
}
