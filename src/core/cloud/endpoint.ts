// Where requests go: the endpoint must be https, or plain http only to this machine (the key and the code would
// otherwise cross the network in clear); loopback never goes through a proxy. Checked before any request.
import { CloudError } from './errors';

export interface CloudEndpoint {
  /** scheme://host[:port], what the connection pool is keyed on. */
  readonly origin: string;
  /** Path prefix before /v1 (e.g. "/openai" for https://host/openai/v1), without a trailing slash. */
  readonly basePath: string;
  /** Host name as shown to the user and reported in results (no credentials, no path). */
  readonly host: string;
  readonly loopback: boolean;
}

/** 127.0.0.0/8, localhost and [::1]: the only hosts plain http may reach. */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h.endsWith('.localhost') || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** user:password@ before the host, or a key or token in the query. */
const CREDENTIAL_IN_URL = /^[a-z][a-z0-9+.-]*:\/\/[^/?#\s]*@|[?&](api[-_]?key|key|token|access_token)=/i;
const CREDENTIAL_MESSAGE =
  'The cloud endpoint URL contains a credential: remove it from verdant.cloud.endpoint and store the key with Verdant: Set Cloud API Key.';

/** Parses and checks a base URL such as https://api.example.com/v1; throws CloudError('insecure'). */
export function parseEndpoint(baseUrl: string): CloudEndpoint {
  // Credentials in a URL end up in logs and synced settings. Checked on the text first, so that a URL that does
  // not parse is not echoed with a key in it.
  if (CREDENTIAL_IN_URL.test(baseUrl)) throw new CloudError('insecure', CREDENTIAL_MESSAGE);
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    // Long key-like runs hidden: a key pasted into the endpoint field must not be echoed into a log.
    const masked = baseUrl.replace(/[A-Za-z0-9_-]{20,}/g, '***');
    const shown = masked.length > 100 ? `${masked.slice(0, 99)}…` : masked;
    throw new CloudError('insecure', `The cloud endpoint "${shown}" is not a URL: set verdant.cloud.endpoint to e.g. https://api.example.com/v1.`);
  }
  if (url.username || url.password) throw new CloudError('insecure', CREDENTIAL_MESSAGE);
  const loopback = isLoopbackHost(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    throw new CloudError(
      'insecure',
      `Refusing to send code to ${url.host} over ${url.protocol.replace(':', '')}: use an https:// URL in verdant.cloud.endpoint (plain http is allowed only to this machine).`,
    );
  }
  // Paths carry /v1 themselves; users paste the base URL with or without it.
  const basePath = url.pathname.replace(/\/+$/, '').replace(/\/v1$/, '');
  return { origin: url.origin, basePath, host: url.host, loopback };
}

/**
 * True when a request to `hostname` must skip the proxy: always for loopback, else when NO_PROXY-style `noProxy`
 * ("*", or comma/space separated hosts and ".suffix" domains, ports ignored) matches it.
 */
export function bypassesProxy(hostname: string, noProxy = ''): boolean {
  if (isLoopbackHost(hostname)) return true;
  const host = hostname.toLowerCase().replace(/^\[|\]$/g, '');
  for (const raw of noProxy.split(/[\s,]+/)) {
    const entry = raw
      .trim()
      .toLowerCase()
      .replace(/^\[|\]$/g, '')
      .replace(/:\d+$/, '');
    if (entry === '') continue;
    if (entry === '*') return true;
    const bare = entry.replace(/^\*?\./, '');
    if (host === bare || host.endsWith(`.${bare}`)) return true;
  }
  return false;
}

/** Removes bearer tokens and the given secrets from text a server sent back (some echo the request). */
export function redact(text: string, secrets: readonly (string | undefined)[]): string {
  let out = text.replace(/Bearer\s+[^\s"',]+/gi, 'Bearer ***');
  for (const s of secrets) if (s && s.length >= 4) out = out.split(s).join('***');
  return out;
}

/** The host (and port) of an endpoint URL, as consent, the status and "Show Last Cloud Request" name it. */
export function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}
