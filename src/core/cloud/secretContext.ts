// Secrets that have no format of their own and no secret name beside them, recognised by what surrounds them: a key
// passed positionally next to its id, a password in `curl -u user:pass` or a Python `auth=(user, pass)` tuple, a bare
// 64-hex key. Each needs a guard, since random-looking values are everywhere in ordinary code.
import { entropy, type Finder, hasDigitAndLetter, isPlaceholder, pattern, type Span } from './secretValues';

/** `candidates` that lie within `reach` characters of one of `anchors`; both sorted by start, one pass over each. */
function nearAnchors(anchors: readonly Span[], candidates: readonly Span[], reach: number): Span[] {
  const near: Span[] = [];
  let i = 0;
  for (const c of candidates) {
    while (i < anchors.length && anchors[i]!.end + reach < c.start) i++;
    if (i < anchors.length && anchors[i]!.start - reach <= c.end) near.push(c);
  }
  return near;
}

/** A secret that counts only next to the id it pairs with: `Client(id, secret)`, `Credentials(id, secret)`. */
function pairedWith(anchor: RegExp, kind: string, candidate: RegExp, accept: (v: string) => boolean, reach = 200): Finder {
  const anchorsIn = pattern('anchor', anchor);
  const candidatesIn = pattern(kind, candidate, accept);
  return (text) => {
    const anchors = anchorsIn(text);
    return anchors.length === 0 ? [] : nearAnchors(anchors, candidatesIn(text), reach);
  };
}

const hasCases = (v: string) => /[A-Z]/.test(v) && /[a-z]/.test(v) && /\d/.test(v);

/** An AWS secret access key (40 base64 characters, mixed case) passed beside its access key id. */
const findAwsSecretBesideId = pairedWith(
  /(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Za-z0-9])/g,
  'aws-secret-key',
  /(?<![A-Za-z0-9+/=])([A-Za-z0-9+/]{40})(?![A-Za-z0-9+/=])/g,
  (v) => hasCases(v) && entropy(v) >= 4.2 && !v.includes('EXAMPLE'),
);

/** A Twilio auth token (32 hex) or API key secret (32 alphanumerics) beside an account SID (AC…) or API key SID (SK…). */
const findTwilioSecretBesideSid = pairedWith(
  /(?<![A-Za-z0-9])(?:AC|SK)[0-9a-f]{32}(?![A-Za-z0-9])/g,
  'twilio-secret',
  /(?<![A-Za-z0-9])([A-Za-z0-9]{32})(?![A-Za-z0-9])/g,
  (v) => hasDigitAndLetter(v) && entropy(v) >= 3.2,
);

/** Passwords that only name the thing: `curl -u user:password`, `auth=('admin', 'pass')`. */
const STAND_IN_PASSWORD = /^(?:pass|pwd|pw|user|username|x+|\*+)$/i;
const realPassword = (v: string) => v.length >= 3 && !isPlaceholder(v) && !STAND_IN_PASSWORD.test(v);

/** Where a shell command that starts at `from` ends: the first newline not escaped by a trailing backslash. */
function commandEnd(text: string, from: number): number {
  for (let i = text.indexOf('\n', from); i >= 0; i = text.indexOf('\n', i + 1)) {
    const before = text[i - 1] === '\r' ? i - 2 : i - 1;
    if (text[before] !== '\\') return i;
  }
  return text.length;
}

/** End of the shell word at `at`: a blank or an operator outside quotes ends it (quotes may reopen: "u":"p"). */
function shellWordEnd(text: string, at: number, end: number): number {
  let i = at;
  while (i < end && !/[\s;|&<>()`]/.test(text.charAt(i))) {
    const c = text.charAt(i);
    if (c !== '"' && c !== "'") {
      i++;
      continue;
    }
    const close = text.slice(i + 1, end).indexOf(c);
    if (close < 0) return end;
    i += close + 2;
  }
  return i;
}

/** The password span of the `user:password` word at `at`: quoted whole, in parts, or not at all. */
function credentialPassword(text: string, at: number, end: number): Span | undefined {
  const word = text.slice(at, shellWordEnd(text, at, end));
  const colon = word.indexOf(':');
  if (colon < 0) return undefined;
  let p = colon + 1;
  let e = word.length;
  const q = word[0];
  if ((q === '"' || q === "'") && word[e - 1] === q && !word.slice(1, colon).includes(q))
    e--; // 'user:pass'
  else if ((word[p] === '"' || word[p] === "'") && word[e - 1] === word[p] && e - p >= 2) {
    p++;
    e--;
  } // user:'pass', "user":"pass"
  return realPassword(word.slice(p, e)) ? { start: at + p, end: at + e, kind: 'password' } : undefined;
}

/** `curl -u user:pass`, `--user 'user:pass'`, `--proxy-user`, over continued lines; the user name stays. */
const findCurlPasswords: Finder = (text) => {
  const spans: Span[] = [];
  const curl = /\bcurl\b/g;
  for (let m = curl.exec(text); m !== null; m = curl.exec(text)) {
    const end = commandEnd(text, m.index);
    const option = /(?<=\s)(?:--user|--proxy-user)(?![\w-])[= \t]*|(?<=\s)-[uU][ \t]*/g;
    const command = text.slice(m.index, end);
    for (let o = option.exec(command); o !== null; o = option.exec(command)) {
      const span = credentialPassword(text, m.index + o.index + o[0].length, end);
      if (span) spans.push(span);
    }
    curl.lastIndex = Math.max(curl.lastIndex, end); // commands do not nest: each character is read once
  }
  return spans;
};

/** Python requests / httpx / aiohttp basic auth: `auth=('user', 'pass')`, `HTTPBasicAuth(user, 'pass')`. */
const findAuthTuplePasswords = pattern(
  'password',
  /\b(?:auth\s*=\s*\(|(?:HTTPBasicAuth|HTTPDigestAuth|HTTPProxyAuth|BasicAuth|DigestAuth)\s*\()\s*(?:[rbuRBU]?(["'])[^"'\\\n]*\1|[A-Za-z_][\w.]*)\s*,\s*[rbuRBU]?(["'])(?<v>[^"'\\\n]+)\2/g,
  (v) => realPassword(v) && v.length >= 4,
);

/** Words before a 64-hex value that make it a key, and words that make it a digest (a checksum, a commit, an id). */
const KEY_CONTEXT = /hmac|cipher|crypt|secret|key|sign|token|auth/i;
const DIGEST_CONTEXT =
  /sha|hash|digest|checksum|integrity|fingerprint|thumbprint|etag|commit|revision|\brev\b|\bsum\b|expected|merkle|\btx|\boid\b|nonce|vector|\bid\b|_id\b/i;

/**
 * A 64-hex value (an AES-256 or HMAC key, an API key) without a secret name beside it, unless the line before it
 * says it is a digest (`sha256: '…'`, `checksum = "…"`, `assert.equal(p.sha256, '…')`) or it starts a sha256sum
 * line (`<hex>  file`). `sha256:<hex>` and `0x<hex>` are digests and chain hashes, and never match.
 */
const findBareHexKeys = pattern('hex-key', /\b(?<![$+/.:-])([0-9a-f]{64}|[0-9A-F]{64})\b(?![$+/=.-])/g, (v, m) => {
  if (!hasDigitAndLetter(v) || entropy(v) < 3.3) return false;
  const input = m.input;
  const end = m.index + m[0].length;
  if (/^ [ *]\S/.test(input.slice(end, end + 3))) return false;
  const back = input.slice(Math.max(0, m.index - 80), m.index);
  const before = back.slice(back.lastIndexOf('\n') + 1); // bounded: a long line is not searched back to its start
  // A value alone on a comment line is an example's output (`// Prints:` then the digest on the next line).
  if (/^\s*(?:\/\/|\/?\*+|#|--|;)[\s/*#'"`]*$/.test(before)) return false;
  return KEY_CONTEXT.test(before) || !DIGEST_CONTEXT.test(before);
});

/** Context-based finders, run after the named assignments so that a named value keeps its name's kind. */
export const CONTEXT_FINDERS: readonly Finder[] = [
  findAwsSecretBesideId,
  findTwilioSecretBesideSid,
  findCurlPasswords,
  findAuthTuplePasswords,
  findBareHexKeys,
];
