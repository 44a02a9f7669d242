// Cloud regions for the embedded default: which country each AWS / Azure / Google Cloud region is in (so that
// 'aws:eu-north-1' resolves to SE's Ember average), and Google's own per-region grid figures.
//
// Google Cloud figures: GoogleCloudPlatform/region-carbon-info, data/yearly/2025.csv at commit
// 74d9bf818f1c6ea5111e26f2d1d4d4c788169129, column "Grid carbon intensity (gCO2eq / kWh)": the average operational
// gross emissions per kWh of the grid at the region's location (location-based; Google's CFE% and any market-based
// claim are not used). Licence: Apache-2.0 (the repository's licence); attribution "Google Cloud region-carbon-info".
// Google's method is not Ember's national annual average, so a region can differ a lot from its country
// (europe-north2 19.39 vs SE 35.89). europe-west5 is left out: the file gives it no location.
// AWS and Azure publish no per-region grid figure under a permissive licence; their regions map to a country only.
// The region -> country lists are facts about where the providers say each region is, kept by hand.

export type CloudProvider = 'aws' | 'azure' | 'gcp';

export interface CloudRegionFigure {
  readonly gPerKWh: number;
  readonly year: number;
  /** ISO 3166 alpha-2 country of the region. */
  readonly country: string;
}

const gcp = (gPerKWh: number, country: string): CloudRegionFigure => ({ gPerKWh, year: 2025, country });

export const GCP_REGIONS: Readonly<Record<string, CloudRegionFigure>> = {
  'africa-south1': gcp(641.42, 'ZA'), // Johannesburg
  'asia-east1': gcp(427.95, 'TW'), // Taiwan
  'asia-east2': gcp(488.52, 'HK'), // Hong Kong
  'asia-northeast1': gcp(449.23, 'JP'), // Tokyo
  'asia-northeast2': gcp(298.92, 'JP'), // Osaka
  'asia-northeast3': gcp(359.05, 'KR'), // Seoul
  'asia-south1': gcp(598.45, 'IN'), // Mumbai
  'asia-south2': gcp(472.55, 'IN'), // Delhi
  'asia-southeast1': gcp(365.66, 'SG'), // Singapore
  'asia-southeast2': gcp(587.8, 'ID'), // Jakarta
  'asia-southeast3': gcp(364.68, 'TH'), // Bangkok
  'australia-southeast1': gcp(468.34, 'AU'), // Sydney
  'australia-southeast2': gcp(415.89, 'AU'), // Melbourne
  'europe-central2': gcp(498.57, 'PL'), // Warsaw
  'europe-north1': gcp(29.84, 'FI'), // Finland
  'europe-north2': gcp(19.39, 'SE'), // Stockholm
  'europe-southwest1': gcp(95.75, 'ES'), // Madrid
  'europe-west1': gcp(126.43, 'BE'), // Belgium
  'europe-west2': gcp(109.39, 'GB'), // London
  'europe-west3': gcp(275.81, 'DE'), // Frankfurt
  'europe-west4': gcp(194.35, 'NL'), // Eemshaven
  'europe-west6': gcp(21.2, 'CH'), // Zürich
  'europe-west8': gcp(202.03, 'IT'), // Milan
  'europe-west9': gcp(15.83, 'FR'), // Paris
  'europe-west10': gcp(275.81, 'DE'), // Berlin
  'europe-west12': gcp(202.03, 'IT'), // Turin
  'me-central1': gcp(370, 'QA'), // Doha
  'me-central2': gcp(381.29, 'SA'), // Dammam
  'me-west1': gcp(380.95, 'IL'), // Tel Aviv
  'northamerica-northeast1': gcp(11.36, 'CA'), // Montréal
  'northamerica-northeast2': gcp(74.2, 'CA'), // Toronto
  'northamerica-south1': gcp(293.25, 'MX'), // Mexico
  'southamerica-east1': gcp(73.25, 'BR'), // São Paulo
  'southamerica-west1': gcp(209.94, 'CL'), // Santiago
  'us-central1': gcp(431.95, 'US'), // Iowa
  'us-central2': gcp(417.39, 'US'), // Oklahoma
  'us-east1': gcp(579.44, 'US'), // South Carolina
  'us-east2': gcp(391.2, 'US'), // Georgia
  'us-east4': gcp(343.48, 'US'), // Northern Virginia
  'us-east5': gcp(343.48, 'US'), // Columbus
  'us-east7': gcp(339.89, 'US'), // Alabama and Tennessee
  'us-south1': gcp(299.13, 'US'), // Dallas
  'us-west1': gcp(97.85, 'US'), // Oregon
  'us-west2': gcp(149.91, 'US'), // Los Angeles
  'us-west3': gcp(567.51, 'US'), // Salt Lake City
  'us-west4': gcp(360, 'US'), // Las Vegas
};

/** AWS region code -> ISO 3166 alpha-2. */
export const AWS_REGION_COUNTRIES: Readonly<Record<string, string>> = {
  'af-south-1': 'ZA', // Cape Town
  'ap-east-1': 'HK', // Hong Kong
  'ap-northeast-1': 'JP', // Tokyo
  'ap-northeast-2': 'KR', // Seoul
  'ap-northeast-3': 'JP', // Osaka
  'ap-south-1': 'IN', // Mumbai
  'ap-south-2': 'IN', // Hyderabad
  'ap-southeast-1': 'SG', // Singapore
  'ap-southeast-2': 'AU', // Sydney
  'ap-southeast-3': 'ID', // Jakarta
  'ap-southeast-4': 'AU', // Melbourne
  'ap-southeast-5': 'MY', // Malaysia
  'ap-southeast-7': 'TH', // Thailand
  'ca-central-1': 'CA', // Canada (Central)
  'ca-west-1': 'CA', // Calgary
  'eu-central-1': 'DE', // Frankfurt
  'eu-central-2': 'CH', // Zurich
  'eu-north-1': 'SE', // Stockholm
  'eu-south-1': 'IT', // Milan
  'eu-south-2': 'ES', // Spain
  'eu-west-1': 'IE', // Ireland
  'eu-west-2': 'GB', // London
  'eu-west-3': 'FR', // Paris
  'il-central-1': 'IL', // Tel Aviv
  'me-central-1': 'AE', // UAE
  'me-south-1': 'BH', // Bahrain
  'mx-central-1': 'MX', // Mexico (Central)
  'sa-east-1': 'BR', // São Paulo
  'us-east-1': 'US', // N. Virginia
  'us-east-2': 'US', // Ohio
  'us-gov-east-1': 'US',
  'us-gov-west-1': 'US',
  'us-west-1': 'US', // N. California
  'us-west-2': 'US', // Oregon
};

/** Azure region name (as in `az account list-locations`) -> ISO 3166 alpha-2. */
export const AZURE_REGION_COUNTRIES: Readonly<Record<string, string>> = {
  australiacentral: 'AU',
  australiacentral2: 'AU',
  australiaeast: 'AU',
  australiasoutheast: 'AU',
  brazilsouth: 'BR',
  brazilsoutheast: 'BR',
  canadacentral: 'CA',
  canadaeast: 'CA',
  centralindia: 'IN',
  centralus: 'US',
  eastasia: 'HK',
  eastus: 'US',
  eastus2: 'US',
  francecentral: 'FR',
  francesouth: 'FR',
  germanynorth: 'DE',
  germanywestcentral: 'DE',
  israelcentral: 'IL',
  italynorth: 'IT',
  japaneast: 'JP',
  japanwest: 'JP',
  jioindiacentral: 'IN',
  jioindiawest: 'IN',
  koreacentral: 'KR',
  koreasouth: 'KR',
  mexicocentral: 'MX',
  newzealandnorth: 'NZ',
  northcentralus: 'US',
  northeurope: 'IE',
  norwayeast: 'NO',
  norwaywest: 'NO',
  polandcentral: 'PL',
  qatarcentral: 'QA',
  southafricanorth: 'ZA',
  southafricawest: 'ZA',
  southcentralus: 'US',
  southeastasia: 'SG',
  southindia: 'IN',
  spaincentral: 'ES',
  swedencentral: 'SE',
  swedensouth: 'SE',
  switzerlandnorth: 'CH',
  switzerlandwest: 'CH',
  uaecentral: 'AE',
  uaenorth: 'AE',
  uksouth: 'GB',
  ukwest: 'GB',
  westcentralus: 'US',
  westeurope: 'NL',
  westindia: 'IN',
  westus: 'US',
  westus2: 'US',
  westus3: 'US',
};
