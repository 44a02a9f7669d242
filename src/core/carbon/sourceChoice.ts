// Which intensity source 'auto' means, and the zone to ask it about, from the user's settings (the same rule for
// the extension and the CLI). Verdant never geolocates: an empty zone is the world average, marked as such.
import type { EndpointZone } from '../cloud/zone';
import type { CarbonSourceChoice } from '../settings';
import type { SourceId } from './types';

export interface SourceFacts {
  readonly choice: CarbonSourceChoice;
  readonly zone: string;
  /** UK outward postcode, for the regional GB figures. */
  readonly postcode: string;
  readonly hasElectricityMapsToken: boolean;
  readonly carbonAwareSdkUrl: string;
}

export function chooseSource(f: SourceFacts): { source: SourceId; zone: string } {
  const zone = f.zone.trim();
  const gb = zone.toUpperCase() === 'GB' || zone.toUpperCase().startsWith('GB-') || (zone === '' && f.postcode !== '');
  const gbZone = f.postcode ? `GB-${f.postcode}` : zone.toUpperCase() || 'GB';
  switch (f.choice) {
    case 'auto':
      if (gb) return { source: 'uk-carbon-intensity', zone: gbZone };
      if (f.hasElectricityMapsToken && zone) return { source: 'electricity-maps', zone };
      if (f.carbonAwareSdkUrl && zone) return { source: 'carbon-aware-sdk', zone };
      return { source: 'embedded', zone };
    case 'uk-carbon-intensity':
      return { source: 'uk-carbon-intensity', zone: gbZone };
    default:
      return { source: f.choice, zone };
  }
}

/**
 * The source for a cloud endpoint's grid (its zone from endpointZone): the user's live source when it covers that
 * zone, else the embedded annual average. The UK API covers only GB; WattTime speaks its own region ids, so it is
 * asked only about a zone the user typed (theirs, or verdant.cloud.zone); an unknown zone is the World average.
 */
export function chooseCloudSource(f: SourceFacts, endpoint: Pick<EndpointZone, 'zone' | 'origin'>): { source: SourceId; zone: string } {
  if (endpoint.origin === 'local') return chooseSource(f);
  const zone = endpoint.origin === 'unknown' ? '' : endpoint.zone.trim();
  if (zone === '') return { source: 'embedded', zone };
  const picked = chooseSource({ ...f, zone, postcode: '' });
  const gb = zone.toUpperCase() === 'GB' || zone.toUpperCase().startsWith('GB-');
  const covers = picked.source === 'uk-carbon-intensity' ? gb : picked.source === 'watttime' ? endpoint.origin === 'setting' : true;
  return covers ? picked : { source: 'embedded', zone };
}
