/** The extension/CLI version, baked in at build time by esbuild.mjs. */
export const VERSION: string = typeof __VERDANT_VERSION__ === 'string' ? __VERDANT_VERSION__ : '0.0.0-dev';
