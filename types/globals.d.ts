/** Baked in by esbuild (esbuild.mjs `define`) from package.json's version. */
declare const __VERDANT_VERSION__: string;
