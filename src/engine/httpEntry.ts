// The HTTP side (server backends, the model downloader, the green-cloud client), built as its own bundle (dist/engine-http.js)
// because undici is large: the extension host loads it on first use instead of parsing it at every activation.
export { createHttpBackend } from './backends';
export { downloadFile } from './models/download';
export { CloudClient } from '../core/cloud/client';
