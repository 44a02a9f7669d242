// OpenAI-compatible endpoint presets for low-carbon clouds (carbon-data.md §6). A preset says where requests go and
// what the SCI estimate needs: the data centre's grid zone in the embedded table, the provider's PUE
// (PROVIDER_PUE; 1.2 when unknown) and each model's key in CLOUD_MODELS. Renewable and heat-reuse claims are
// labels only: location-based accounting never lets them change a number.
import { CLOUD_MODELS, PROVIDER_PUE, resolveCloudModel, type CloudModelId, type ProviderId } from '../carbon/energy/cloud';

export interface PresetModel {
  /** The name the endpoint expects in `model`. */
  readonly id: string;
  /** Key of CLOUD_MODELS for the energy estimate; null for a custom model (caller passes parameter counts). */
  readonly catalogModel: CloudModelId | null;
  /** Why the catalogue entry stands for this model when the names differ. */
  readonly note?: string;
}

/** Which facts of a preset are not confirmed by a primary source (carbon-data.md §7). */
export type UnverifiedField = 'baseUrl' | 'gridZone' | 'pue' | 'models' | 'claims';

export interface CloudPreset {
  readonly id: string;
  readonly name: string;
  /** `{placeholder}` parts must be filled in by the user (project id, product id, deployment host). */
  readonly baseUrl: string;
  /** Hosts that identify this provider in a user-entered URL; a leading '.' matches any subdomain. */
  readonly hosts: readonly string[];
  readonly region: string;
  /** Zone for lookupGridAverage; '' means the user's own zone (self-hosted), 'WORLD' an unknown site. */
  readonly gridZone: string;
  /** Region ids that name the data centre in an endpoint's host ('ch-gva-2' in api-ch-gva-2.exoscale.com) -> their zone. */
  readonly regionZones?: Readonly<Record<string, string>>;
  /** PROVIDER_PUE's value, or null when the provider publishes none (the estimate then uses 1.2). */
  readonly pue: number | null;
  readonly provider: ProviderId;
  readonly models: readonly PresetModel[];
  /** Market or facility claims, shown as labels; never used in a number. */
  readonly claims: readonly string[];
  readonly docsUrl: string | null;
  readonly auth: 'bearer';
  readonly verified: boolean;
  readonly unverified: readonly UnverifiedField[];
  readonly notes: string;
}

const pueOf = (p: ProviderId): number => PROVIDER_PUE[p].pue;

export const CLOUD_PRESETS: readonly CloudPreset[] = [
  {
    id: 'scaleway',
    name: 'Scaleway Generative APIs',
    baseUrl: 'https://api.scaleway.ai/v1',
    hosts: ['api.scaleway.ai', '.ifr.fr-par.scaleway.com', '.ifr.nl-ams.scaleway.com', '.ifr.pl-waw.scaleway.com'],
    region: 'fr-par',
    gridZone: 'FR',
    regionZones: { 'fr-par': 'FR', 'nl-ams': 'NL', 'pl-waw': 'PL' },
    pue: pueOf('scaleway'),
    provider: 'scaleway',
    models: [
      { id: 'llama-3.1-8b-instruct', catalogModel: 'llama-3.1-8b-instruct' },
      { id: 'llama-3.3-70b-instruct', catalogModel: 'llama-3.3-70b-instruct' },
      { id: 'mistral-small-3.2-24b-instruct-2506', catalogModel: 'mistral-small-3.2-24b-instruct' },
      { id: 'gemma-3-27b-it', catalogModel: 'gemma-3-27b-it' },
    ],
    claims: ['PUE target below 1.15 for new sites, 1.3 for older ones (scaleway.com)', 'ADEME-PCR environmental footprint calculator (beta)'],
    docsUrl: 'https://www.scaleway.com/en/developers/api/generative-apis/',
    auth: 'bearer',
    verified: false,
    unverified: ['pue'],
    notes:
      'Key: Bearer $SCW_SECRET_KEY. Project-scoped URL: https://api.scaleway.ai/{project_id}/v1; dedicated deployments: https://<uuid>.ifr.fr-par.scaleway.com/v1. PUE 1.25 is the DC5 figure from a third-party page.',
  },
  {
    id: 'ovhcloud',
    name: 'OVHcloud AI Endpoints',
    baseUrl: 'https://oai.endpoints.kepler.ai.cloud.ovh.net/v1',
    hosts: ['oai.endpoints.kepler.ai.cloud.ovh.net', '.endpoints.kepler.ai.cloud.ovh.net', '.app.gra.ai.cloud.ovh.net', '.app.bhs.ai.cloud.ovh.net'],
    region: 'unknown (OVHcloud, France-based)',
    gridZone: 'WORLD',
    // AI Deploy apps name their region in the host (<id>.app.gra.ai.cloud.ovh.net): Gravelines or Beauharnois.
    regionZones: { gra: 'FR', bhs: 'CA' },
    pue: pueOf('ovhcloud'),
    provider: 'ovhcloud',
    models: [
      { id: 'gpt-oss-120b', catalogModel: 'gpt-oss-120b' },
      { id: 'Meta-Llama-3_3-70B-Instruct', catalogModel: 'llama-3.3-70b-instruct' },
      { id: 'Qwen3-32B', catalogModel: 'qwen3-32b' },
    ],
    claims: ['78% renewable (OVHcloud FY2021)', 'WUE 0.17-0.20 L/kWh (OVHcloud FY2021)'],
    docsUrl: 'https://endpoints.ai.cloud.ovh.net/',
    auth: 'bearer',
    verified: false,
    unverified: ['gridZone'],
    notes:
      'The serving data centre is not published, so the World average is used; set the carbon zone yourself if you know it. Anonymous use works but is rate-limited.',
  },
  {
    id: 'infomaniak',
    name: 'Infomaniak AI',
    baseUrl: 'https://api.infomaniak.com/1/ai/{product_id}/openai',
    hosts: ['api.infomaniak.com'],
    region: 'Geneva',
    gridZone: 'CH',
    pue: null,
    provider: 'infomaniak',
    models: [
      { id: 'mistral3', catalogModel: 'mistral-small-3.2-24b-instruct', note: 'assumed Mistral Small 3.2 24B [unverified]' },
      { id: 'llama3', catalogModel: 'llama-3.3-70b-instruct', note: 'assumed Llama 3.3 70B Instruct [unverified]' },
    ],
    claims: ['D4 data centre recovers 100% of its power as heat, 1.7 MW (Infomaniak, Jan 2025)'],
    docsUrl: 'https://developer.infomaniak.com/',
    auth: 'bearer',
    verified: false,
    unverified: ['pue', 'models'],
    notes:
      'Chat path: {baseUrl}/chat/completions, from Infomaniak code samples. Also serves Qwen, Kimi and Apertus models (custom: give their sizes).',
  },
  {
    id: 'nebius',
    name: 'Nebius Token Factory',
    baseUrl: 'https://api.tokenfactory.nebius.com/v1',
    hosts: ['api.tokenfactory.nebius.com', 'api.studio.nebius.ai'],
    region: 'Mäntsälä (Finland), not guaranteed for serverless',
    gridZone: 'FI',
    pue: pueOf('nebius'),
    provider: 'nebius',
    models: [
      { id: 'meta-llama/Llama-3.3-70B-Instruct', catalogModel: 'llama-3.3-70b-instruct' },
      { id: 'Qwen/Qwen3-235B-A22B', catalogModel: 'qwen3-235b-a22b' },
      { id: 'deepseek-ai/DeepSeek-R1-0528', catalogModel: 'deepseek-r1' },
    ],
    claims: ['Heat reuse: 30 GWh over 2 years (nebius.com/sustainability)'],
    docsUrl: 'https://nebius.com/token-factory',
    auth: 'bearer',
    verified: false,
    unverified: ['gridZone', 'pue'],
    notes: 'Formerly api.studio.nebius.ai/v1. Serverless requests may be served outside Finland.',
  },
  {
    id: 'akash',
    name: 'AkashChat',
    baseUrl: 'https://chatapi.akash.network/api/v1',
    hosts: ['chatapi.akash.network', 'api.akashml.com'],
    region: 'decentralised (unknown)',
    gridZone: 'WORLD',
    pue: null,
    provider: 'default',
    models: [
      { id: 'Meta-Llama-3-1-8B-Instruct-FP8', catalogModel: 'llama-3.1-8b-instruct' },
      { id: 'DeepSeek-V3-1', catalogModel: 'deepseek-r1', note: 'same DeepSeek-V3 architecture as R1: 671B total, 37B active' },
    ],
    claims: [],
    docsUrl: 'https://chatapi.akash.network/',
    auth: 'bearer',
    verified: false,
    unverified: ['gridZone', 'pue'],
    notes: 'Providers on the Akash network are anywhere, so the World average and PUE 1.2 are used. AkashML: https://api.akashml.com/v1.',
  },
  {
    id: 'exoscale',
    name: 'Exoscale Dedicated Inference (beta)',
    baseUrl: 'https://{deployment_host}/v1',
    // The deployment URL's form is unverified; a host under exoscale.com that names a zone finds its grid.
    hosts: ['.exoscale.com'],
    region: 'ch-gva-2',
    gridZone: 'CH',
    regionZones: { 'ch-gva-2': 'CH', 'ch-dk-2': 'CH', 'de-fra-1': 'DE', 'de-muc-1': 'DE', 'at-vie-1': 'AT', 'at-vie-2': 'AT', 'bg-sof-1': 'BG' },
    pue: null,
    provider: 'exoscale',
    models: [],
    claims: [],
    docsUrl: 'https://community.exoscale.com/',
    auth: 'bearer',
    verified: false,
    unverified: ['baseUrl', 'pue', 'claims'],
    notes:
      'Create a deployment (POST https://api-<zone>.exoscale.com/v2/ai/model, then /ai/deployment) and paste its deployment-url; key from `exo dedicated-inference deployment reveal-api-key`. OpenAI compatibility unverified. A host naming its zone (ch-gva-2, ch-dk-2, de-fra-1, de-muc-1, at-vie-1/2, bg-sof-1) finds that grid; otherwise set verdant.cloud.zone.',
  },
  {
    id: 'green-ai-cloud',
    name: 'Green AI Cloud (Sweden)',
    baseUrl: 'https://{host}/v1',
    hosts: [],
    region: 'Sweden',
    gridZone: 'SE',
    pue: null,
    provider: 'default',
    models: [],
    claims: [],
    docsUrl: null,
    auth: 'bearer',
    verified: false,
    unverified: ['baseUrl', 'gridZone', 'pue', 'claims'],
    notes: 'No public API documentation found: enter the URL you were given (setup keeps SE in verdant.cloud.zone).',
  },
  {
    id: 'self-hosted',
    name: 'Self-hosted OpenAI-compatible (vLLM, llama-server, …)',
    baseUrl: 'http://localhost:8000/v1',
    hosts: ['localhost', '127.0.0.1', '[::1]'],
    region: 'yours',
    gridZone: '',
    pue: null,
    provider: 'default',
    models: [],
    claims: [],
    docsUrl: 'https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html',
    auth: 'bearer',
    verified: false,
    unverified: ['pue'],
    notes: 'Any URL (vLLM serves :8000/v1, llama-server :8080/v1). The grid zone is your own carbon zone; PUE 1.2 unless you set one.',
  },
];

export function findPreset(id: string): CloudPreset | undefined {
  return CLOUD_PRESETS.find((p) => p.id === id);
}

function hostOf(url: string): string | undefined {
  try {
    return new URL(url.trim()).hostname.toLowerCase();
  } catch {
    return undefined;
  }
}

/** The preset's zone for a URL: the region its host names ('de-fra-1' -> DE), else the preset's gridZone. */
export function presetZone(preset: CloudPreset, url: string): string {
  const labels = (hostOf(url) ?? '').split('.');
  const named = Object.entries(preset.regionZones ?? {}).find(([region]) => labels.some((l) => l === region || l.endsWith(`-${region}`)));
  return named ? named[1] : preset.gridZone;
}

/** The preset whose host matches a base URL ('https://api.scaleway.ai/abc/v1' -> scaleway); undefined when none or unparsable. */
export function presetForUrl(url: string): CloudPreset | undefined {
  const host = hostOf(url);
  if (host === undefined) return undefined;
  return CLOUD_PRESETS.find((p) => p.hosts.some((h) => (h.startsWith('.') ? host.endsWith(h) : host === h)));
}

export interface CarbonContext {
  /** The PUE to use: the preset's, else PROVIDER_PUE.default (1.2). */
  readonly pue: number;
  readonly pueVerified: boolean;
  readonly provider: ProviderId;
  readonly catalogModel: CloudModelId | null;
  /** Claims for SciRecord.labels only. */
  readonly labels: readonly string[];
}

/**
 * What the SCI estimate of a request to `model` on `preset` needs besides the zone (that is endpointZone's, in
 * zone.ts). A model missing from the preset is resolved by name through the carbon catalogue.
 */
export function carbonContext(preset: CloudPreset, model: string): CarbonContext {
  const listed = preset.models.find((m) => m.id === model);
  const catalogModel = listed ? listed.catalogModel : (resolveCloudModel(model) ?? null);
  return {
    pue: preset.pue ?? PROVIDER_PUE.default.pue,
    pueVerified: preset.pue !== null && PROVIDER_PUE[preset.provider].verified,
    provider: preset.provider,
    catalogModel: catalogModel !== null && catalogModel in CLOUD_MODELS ? catalogModel : null,
    labels: [...preset.claims],
  };
}
