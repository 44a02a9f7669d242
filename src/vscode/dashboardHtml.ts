// The carbon dashboard's page: a fixed skeleton under a strict Content-Security-Policy. Everything else is drawn by
// media/dashboard.js from the data the panel posts. No 'vscode' import here, so unit tests can check the page.
import { randomBytes } from 'node:crypto';

export interface DashboardHtmlInput {
  /** `webview.cspSource`, e.g. `'self' https://*.vscode-cdn.net`. */
  readonly cspSource: string;
  readonly nonce: string;
  readonly scriptUri: string;
  readonly styleUri: string;
  readonly title: string;
}

/** 24 random bytes, base64 without padding: 32 characters. A new one for every page. */
export function newNonce(): string {
  return randomBytes(24).toString('base64').replace(/=+$/, '');
}

const NONCE = /^[A-Za-z0-9+/_-]{22,}={0,2}$/;

export function dashboardHtml({ cspSource, nonce, scriptUri, styleUri, title }: DashboardHtmlInput): string {
  // A nonce or source that could close the directive or the attribute would let anything in.
  if (!NONCE.test(nonce)) throw new Error('The dashboard nonce must be base64 or hex of at least 16 random bytes.');
  if (/[;,"<>\r\n]/.test(cspSource)) throw new Error(`Unexpected character in the webview's CSP source: ${cspSource}`);
  const csp = `default-src 'none'; img-src ${cspSource} data:; style-src ${cspSource}; script-src 'nonce-${nonce}'; font-src ${cspSource};`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${attr(csp)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="${attr(styleUri)}">
<title>${text(title)}</title>
</head>
<body>
<div id="app" class="app"><p role="status">Loading carbon data…</p></div>
<script nonce="${attr(nonce)}" src="${attr(scriptUri)}"></script>
</body>
</html>
`;
}

function text(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function attr(s: string): string {
  return text(s).replace(/"/g, '&quot;');
}
