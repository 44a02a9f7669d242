// The request and result types moved to core (src/core/inference/types.ts), where core code can use them without
// importing src/engine; the engine keeps importing them from here.
export * from '../core/inference/types';
