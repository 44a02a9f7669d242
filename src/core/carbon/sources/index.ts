// Grid-intensity sources: the embedded Ember/cloud-region default, the live providers, and the resilient service
// that the CLI and the extension build with createIntensityService().
export { CARBON_AWARE_SDK_URL_SETTING, CarbonAwareSdkSource } from './carbonAwareSdk';
export { ELECTRICITY_MAPS_URL, ElectricityMapsSource, SET_ELECTRICITY_MAPS_TOKEN_COMMAND } from './electricityMaps';
export { EmbeddedSource, flatForecast, lookupGridAverage, parseCloudZone, type GridLookup } from './embedded';
export { SourceError, type FailureKind } from './errors';
export type { FetchLike, HttpContext, ResponseLike } from './http';
export { DEFAULT_RESILIENCE_POLICY, ResilientSource, type ResiliencePolicy } from './resilient';
export {
  createIntensityService,
  createLiveSource,
  DEFAULT_BASE_URLS,
  DEFAULT_TIMEOUT_MS,
  type CarbonCredentials,
  type IntensityService,
  type IntensityServiceOptions,
  type LiveSourceId,
} from './service';
export { parseGbZone, UK_CARBON_INTENSITY_URL, UkCarbonIntensitySource } from './ukCarbonIntensity';
export {
  LBS_PER_MWH_TO_G_PER_KWH,
  SET_WATTTIME_CREDENTIALS_COMMAND,
  WATTTIME_URL,
  WattTimeSource,
  type SignalIndex,
  type WattTimeLogin,
} from './wattTime';
