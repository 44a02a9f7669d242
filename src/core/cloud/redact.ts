// Secret redaction for text about to leave the machine (cloud prompts). Each secret becomes a numbered placeholder,
// the same one for every occurrence within a call, so the model still sees the code's shape ("the same key is used
// in both places") without the value. Recognisers run in priority order (known token formats, secretFormats.ts,
// before context-based assignments, here); an accepted span hides any lower-priority span that overlaps it. Erring
// towards redaction is cheap (a worse suggestion), a leak is not; the false-positive guards (here and in
// secretValues.ts) target ordinary code only.

import { CONTEXT_FINDERS } from './secretContext';
import { FORMAT_FINDERS } from './secretFormats';
import { type Finder, hasDigitAndLetter, isCodeLike, isPlaceholder, pattern, type Span, weakSecret } from './secretValues';

export interface RedactionFinding {
  readonly kind: string;
  /** 1-based line of the secret's first character in the input text. */
  readonly line: number;
}

export interface RedactionResult {
  readonly text: string;
  readonly findings: RedactionFinding[];
}

export interface RedactOptions {
  /** Literal values to redact wherever they appear (e.g. the user's own cloud key); values under 6 characters are ignored. */
  readonly extraValues?: readonly string[];
}

// ---------------------------------------------------------------------------------------------------------------
// Secret-looking names

type Strength = 'strong' | 'weak';

/** 'DB_PASSWORD', 'dbPassword', 'x-api-key', '$apiKey', 'APIKey' -> lower-case segments. */
function nameSegments(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z])([A-Z][a-z])/g, '$1_$2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((s) => s !== '');
}

const SUFFIXES = new Set(['base', 'b64', 'base64', 'value', 'raw', 'str', 'hex']);
const STRONG_LAST = new Set([
  'password',
  'passwd',
  'pwd',
  'pass',
  'pw',
  'passphrase',
  'passcode',
  'secret',
  'token',
  'apikey',
  'accesskey',
  'secretkey',
  'privatekey',
  'authkey',
  'authtoken',
  'accesstoken',
  'credential',
  'credentials',
  'authorization',
  'pat',
]);
const STRONG_ENDINGS = ['password', 'passwd', 'secret', 'token', 'apikey', 'accesskey', 'secretkey', 'privatekey'];
const KEY_PREFIXES = new Set([
  'api',
  'access',
  'secret',
  'private',
  'auth',
  'signing',
  'sign',
  'encryption',
  'enc',
  'crypt',
  'crypto',
  'master',
  'client',
  'app',
  'license',
  'licence',
  'account',
  'service',
  'subscription',
  'webhook',
  'consumer',
  'shared',
  'hmac',
  'jwt',
  'admin',
  'deploy',
  'ssh',
  'gpg',
  'pgp',
  'storage',
  'openai',
  'anthropic',
  'stripe',
  'mistral',
  'scaleway',
  'ovh',
  'nebius',
]);
const WEAK_LAST = new Set(['key', 'salt', 'hmac', 'signature', 'sig', 'seed', 'auth', 'cred', 'creds']);

/** Every secret name's last segment holds one of these: a cheap test that spares the segmenting for most names. */
const SECRET_NAME_PART = /pw|pass|secret|token|key|cred|auth|pat|salt|hmac|sig|seed/i;

interface SecretName {
  readonly strength: Strength;
  readonly kind: string;
  /** The name as written. */
  readonly raw: string;
}

function secretName(name: string): SecretName | undefined {
  if (!SECRET_NAME_PART.test(name)) return undefined;
  const segs = nameSegments(name);
  if (segs.includes('public')) return undefined; // publicKey, PUBLIC_KEY: the half that may be shown
  while (segs.length > 1 && SUFFIXES.has(segs[segs.length - 1]!)) segs.pop();
  const last = segs[segs.length - 1] ?? '';
  const prev = segs[segs.length - 2] ?? '';
  const joined = segs.join('_');
  let strength: Strength | undefined;
  if (STRONG_LAST.has(last) || STRONG_ENDINGS.some((e) => last.length > e.length && last.endsWith(e))) strength = 'strong';
  else if (last === 'key' && KEY_PREFIXES.has(prev)) strength = 'strong';
  else if (WEAK_LAST.has(last) && (segs.length === 1 || last !== 'key')) strength = 'weak';
  if (strength === undefined) return undefined;
  let kind = 'secret';
  if (/aws.*secret|secret_?access_?key/.test(joined)) kind = 'aws-secret-key';
  else if (/^(?:password|passwd|pwd|pass|pw|passphrase|passcode)$/.test(last) || last.endsWith('password') || last.endsWith('passwd'))
    kind = 'password';
  else if (last.endsWith('token') || last === 'authorization' || last === 'pat') kind = 'token';
  else if (last === 'apikey' || (last === 'key' && prev === 'api') || last.endsWith('apikey')) kind = 'api-key';
  else if (last === 'privatekey' || (last === 'key' && prev === 'private')) kind = 'private-key';
  else if (last === 'credential' || last === 'credentials') kind = 'credential';
  return { strength, kind, raw: name };
}

// ---------------------------------------------------------------------------------------------------------------
// NAME <sep> VALUE

const QUOTES = new Set(['"', "'", '`']);

/** End index (exclusive) of a string literal opened at `open`, or -1 when it does not close on that line. */
function closingQuote(text: string, open: number): number {
  const q = text[open];
  for (let i = open + 1; i < text.length; i++) {
    const c = text[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (c === q) return i;
    if (c === '\n') return -1;
  }
  return -1;
}

const TYPE_ANNOTATION = /^[A-Za-z_][\w.]*(?:<[^>\n]*>)?(?:\[\])?(?:[ \t]*\|[ \t]*[A-Za-z_][\w.]*)*[ \t]*=(?!=)[ \t]*/;
const ENV_PREFIX = /^[ \t]*(?:export[ \t]+|ENV[ \t]+|ARG[ \t]+|set[ \t]+|setx[ \t]+)?$/;

/** Lower-case letters and digits only: 'ACCESS_TOKEN', 'accessToken' and 'access-token' are one word. */
const squeezed = (s: string) => s.toLowerCase().replace(/[^a-z0-9]/g, '');

/** `ACCESS_TOKEN = "access_token"`, `GetToken: "GetToken"`: the value names the thing, as constants and enums do. */
function namesItself(v: string, name: string): boolean {
  return squeezed(v) === squeezed(name.slice(name.lastIndexOf('.') + 1));
}

/** fetch()'s `credentials` modes. */
const CREDENTIALS_MODES = new Set(['include', 'omit', 'same-origin']);

/** Kinds whose values machines make: random, never words. Passwords and secrets may be made by people. */
const MACHINE_MADE = new Set(['token', 'api-key', 'credential']);

/**
 * A value that is a name, not a secret: the name it is assigned to (`ACCESS_TOKEN = "access_token"`), a secret's
 * name in lower case (`userAssertionToken: "access-token"`), or, for machine-made kinds, an identifier of words
 * (`"continuationToken"`, `ArrowToken$1`).
 */
function isAName(v: string, name: SecretName): boolean {
  return (
    namesItself(v, name.raw) ||
    (/^[a-z]+(?:[-_][a-z]+)+$/.test(v) && secretName(v) !== undefined) ||
    (MACHINE_MADE.has(name.kind) && /^[A-Za-z][a-z]{2,}(?:[A-Z][a-z]{2,})+(?:\$\d+)?$/.test(v))
  );
}

function acceptQuoted(v: string, name: SecretName): boolean {
  if (isPlaceholder(v) || /\s/.test(v) || isAName(v, name)) return false;
  if (name.strength === 'weak') return weakSecret(v);
  return (
    v.length >= 6 &&
    !CREDENTIALS_MODES.has(v) &&
    !/^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$/.test(v) && // an environment variable's name
    !/^[A-Z][a-z]+$/.test(v) && // a label: "Password"
    !/^[~^=<>v]*\d+\.\d+/.test(v) && // a version: "jsonwebtoken": "^9.0.0"
    !/^[A-Za-z_$][A-Za-z_$-]*(?:\.[A-Za-z_$][A-Za-z_$-]*)+$/.test(v) && // a setting or command id: 'verdant.setApiKey'
    !/^(?:~|\.{1,2})?\/[\w./-]*$/.test(v)
  ); // a path: PWD: '/Users/me'
}

/** Where a value after NAME <sep> starts (past a type annotation such as `: string =`) and its quote, if any. */
interface ValueStart {
  readonly p: number;
  /** Index of the opening quote, or -1 for an unquoted value. */
  readonly q: number;
  /** A Python f-string, whose `{…}` are code. */
  readonly fString: boolean;
}

function valueStart(text: string, p: number, sep: string): ValueStart {
  // charAt: p may be the end of the text.
  if (sep === ':' && !QUOTES.has(text.charAt(p))) {
    const typed = TYPE_ANNOTATION.exec(text.slice(p, p + 200));
    if (typed) p += typed[0].length;
  }
  const prefixed = /[bBrRuUfF]/.test(text[p] ?? '') && QUOTES.has(text.charAt(p + 1));
  const q = QUOTES.has(text.charAt(p)) ? p : prefixed ? p + 1 : -1;
  return { p, q, fString: prefixed && (text[p] === 'f' || text[p] === 'F') };
}

/** The quoted value opened at `start.q` as a span when it reads as a secret; `end` is past the closing quote (-1: unclosed). */
function quotedValue(text: string, start: ValueStart, name: SecretName): { span?: Span; end: number } {
  const close = closingQuote(text, start.q);
  if (close < 0) return { end: -1 };
  const v = text.slice(start.q + 1, close);
  const template = (start.fString && v.includes('{')) || (text[start.q] === '`' && v.includes('${'));
  return { span: !template && acceptQuoted(v, name) ? { start: start.q + 1, end: close, kind: name.kind } : undefined, end: close + 1 };
}

/**
 * `tokens[i]`, `Options["Key"]`, `parts[i + 1]`, `tokens[n++]`: the value read stops inside the brackets, and what
 * follows closes the index (and the expression) or continues it. `Tr0ub[4]dor` goes on after the bracket, and stays
 * a password.
 */
function indexExpression(text: string, token: string, end: number): boolean {
  if (!/^[A-Za-z_$][\w$.]*\[[\w$.+-]*$/.test(token)) return false;
  return text[end] === ']' ? !/[\w$]/.test(text[end + 1] ?? '') : /^["'` \t+*-]/.test(text[end] ?? '');
}

/**
 * An unquoted value that reads as code: an index, a generic type (`OAuth2TokenCredential<T>`), an optional type
 * after a colon (`token: AuthToken?` in Swift, Kotlin, C#), a constant (`RESET_PASSWORD_V2_SUBMIT`), or a variable
 * after a quoted key (`'Authorization': type1msg`: JSON would quote a string value, so this is a dict or object
 * literal in code).
 */
function codeValue(text: string, token: string, end: number, quotedName: boolean, sep: string): boolean {
  return (
    indexExpression(text, token, end) ||
    text[end] === '<' ||
    (sep === ':' && /^[A-Z][\w.]*\?$/.test(token)) ||
    /^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$/.test(token) ||
    (quotedName && /^[A-Za-z_$][\w$]*$/.test(token))
  );
}

/** The unquoted value at `p` (its end is where the scan may resume) and whether it reads as a secret. */
function unquotedValue(text: string, m: RegExpExecArray, p: number, name: SecretName): { end: number; secret: boolean } {
  const back = text.slice(Math.max(0, m.index - 32), m.index);
  const lineStart = back.lastIndexOf('\n') + 1;
  const atLineStart = lineStart > 0 || m.index <= 32;
  const env = m[4] === '=' && atLineStart && ENV_PREFIX.test(back.slice(lineStart)) && m[3] === '' && m[5] === '';
  // '&' ends a value only in a URL query (?token=…&x=…); elsewhere it can be part of a password.
  const query = /[?&]/.test(text[m.index - 1] ?? '');
  const token = (env ? /^[^\s'"`]+/ : query ? /^[^\s,;)}\]&'"`<>#]+/ : /^[^\s,;)}\]'"`<>]+/).exec(text.slice(p, p + MAX_VALUE))?.[0] ?? '';
  const end = p + token.length;
  if (token === '' || isPlaceholder(token) || isAName(token, name)) return { end, secret: false };
  if (!env && codeValue(text, token, end, m[1] !== '', m[4]!)) return { end, secret: false };
  if (name.strength === 'weak') return { end, secret: weakSecret(token) && !isCodeLike(token) };
  const secret = env
    ? token.length >= 6 && !isCodeLike(token)
    : token.length >= 8 && !isCodeLike(token) && (hasDigitAndLetter(token) || /[^\w.$-]/.test(token));
  return { end, secret };
}

/** Longest unquoted value read after a secret name; a longer run is cut there. */
const MAX_VALUE = 4096;

/**
 * NAME <sep> VALUE in any language: KEY=value, KEY: value, "key": "value", key = 'value', key := "v", 'k' => 'v',
 * name: Type = "v", cfg["key"] = "v". Quoted values are redacted when plausible; unquoted ones in env/shell form
 * (KEY=value at the start of a line) or when they look random, so `token = getToken()` and `password: string` stay.
 * Linear: a name starts only at the start of a run of name characters (or after a CLI flag's `--`), and the scan
 * resumes after each unquoted value it read and each quoted value it redacted, so no character is read as a value
 * twice over.
 */
const findAssignments: Finder = (text) => {
  const spans: Span[] = [];
  const names = new Map<string, SecretName | undefined>(); // code repeats its names: judge each once per call
  const rx = /(?:(?<![\w$.-])|(?<=(?<![\w$.-])--))(["'`]?)([A-Za-z_$][\w$.-]*)\1\]?([ \t]*)(=>|:=|=(?!=)|:(?!:))([ \t]*)/g;
  for (let m = rx.exec(text); m !== null; m = rx.exec(text)) {
    const key = m[2]!; // every group takes part in a match (some as '')
    if (!names.has(key)) names.set(key, secretName(key));
    const name = names.get(key);
    // `cond ? 'a-password' : 'b'` is a ternary, not a quoted key: JSON and YAML put ':' right after the key.
    if (!name || (m[1] !== '' && m[4] === ':' && m[3] !== '')) continue;
    // `# public key: age1…`, `Public Key = …`: the name is two words, and the first says it is not a secret.
    if (/public[ \t]$/i.test(text.slice(Math.max(0, m.index - 7), m.index))) continue;
    const start = valueStart(text, m.index + m[0].length, m[4]!);
    if (start.q >= 0) {
      const { span, end } = quotedValue(text, start, name);
      if (span) {
        spans.push(span);
        rx.lastIndex = end;
      }
      continue;
    }
    const { end, secret } = unquotedValue(text, m, start.p, name);
    if (secret) spans.push({ start: start.p, end, kind: name.kind });
    rx.lastIndex = Math.max(rx.lastIndex, end);
  }
  return spans;
};

/** Dockerfile's legacy `ENV NAME value` form. */
const findDockerEnv: Finder = (text) => {
  const spans: Span[] = [];
  const rx = /^[ \t]*(?:ENV|ARG)[ \t]+([A-Za-z_]\w*)[ \t]+(\S+)[ \t]*$/dgm;
  for (let m = rx.exec(text); m !== null; m = rx.exec(text)) {
    const name = secretName(m[1]!);
    const v = m[2]!;
    const [start, end] = m.indices?.[2] ?? [0, 0];
    if (name && v.length >= 6 && !isPlaceholder(v) && !isCodeLike(v)) spans.push({ start, end, kind: name.kind });
  }
  return spans;
};

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function findLiterals(values: readonly string[]): Finder {
  const wanted = [...new Set(values.filter((v) => v.length >= 6))].sort((a, b) => b.length - a.length);
  if (wanted.length === 0) return () => [];
  return pattern('known-secret', new RegExp(wanted.map(escapeRegExp).join('|'), 'g'));
}

// ---------------------------------------------------------------------------------------------------------------
// Applying spans

function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  return starts;
}

function lineOf(starts: readonly number[], offset: number): number {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo + 1;
}

/**
 * `kept` (sorted, never overlapping) with those of `found` that overlap nothing before them: one merge per finder, so
 * resolving N spans stays near-linear where inserting each into the middle of an array was quadratic.
 */
function mergeSpans(kept: readonly Span[], found: readonly Span[]): Span[] {
  const out: Span[] = [];
  let i = 0;
  for (const s of [...found].sort((a, b) => a.start - b.start)) {
    while (i < kept.length && kept[i]!.end <= s.start) out.push(kept[i++]!);
    const last = out[out.length - 1];
    if (s.end <= s.start || (last && last.end > s.start) || (i < kept.length && kept[i]!.start < s.end)) continue;
    out.push(s);
  }
  while (i < kept.length) out.push(kept[i++]!);
  return out;
}

/** Runs finders in priority order, drops spans that overlap an earlier-accepted one, and substitutes placeholders. */
function redactWith(text: string, finders: readonly Finder[]): RedactionResult {
  let accepted: Span[] = [];
  for (const find of finders) accepted = mergeSpans(accepted, find(text));
  const starts = lineStarts(text);
  const byValue = new Map<string, string>();
  const perKind = new Map<string, number>();
  const findings: RedactionFinding[] = [];
  let out = '';
  let at = 0;
  for (const s of accepted) {
    const value = text.slice(s.start, s.end);
    let placeholder = byValue.get(value);
    if (placeholder === undefined) {
      const n = (perKind.get(s.kind) ?? 0) + 1;
      perKind.set(s.kind, n);
      placeholder = `[REDACTED:${s.kind}#${n}]`;
      byValue.set(value, placeholder);
    }
    out += text.slice(at, s.start) + placeholder;
    at = s.end;
    findings.push({ kind: s.kind, line: lineOf(starts, s.start) });
  }
  return { text: out + text.slice(at), findings };
}

function finders(options: RedactOptions | undefined, first: readonly Finder[] = []): Finder[] {
  return [...first, findLiterals(options?.extraValues ?? []), ...FORMAT_FINDERS, findAssignments, findDockerEnv, ...CONTEXT_FINDERS];
}

/** Replaces every recognised secret with `[REDACTED:<kind>#<n>]`; the same value gets the same placeholder. */
export function redactSecrets(text: string, options?: RedactOptions): RedactionResult {
  return redactWith(text, finders(options));
}

/** Every `KEY=value` value of a .env file (multi-line quoted values included); keys, comments and blank lines stay. */
const findEnvValues: Finder = (text) => {
  const spans: Span[] = [];
  const rx = /^[ \t]*(?:export[ \t]+)?([A-Za-z_][\w.-]*)[ \t]*=[ \t]*/gm;
  for (let m = rx.exec(text); m !== null; m = rx.exec(text)) {
    const p = m.index + m[0].length;
    const kind = secretName(m[1]!)?.kind ?? 'env-value';
    const quote = text.charAt(p); // '' at the end of the text
    if (QUOTES.has(quote)) {
      const close = text.indexOf(quote, p + 1);
      const end = close < 0 ? text.length : close;
      if (end > p + 1) spans.push({ start: p + 1, end, kind });
      if (close >= 0) rx.lastIndex = close + 1;
      continue;
    }
    const raw = /^[^\n]*/.exec(text.slice(p))?.[0] ?? '';
    const value = raw.replace(/(?<![ \t])[ \t]+#.*$/, '').trimEnd(); // one start per run of blanks: linear
    if (value !== '') spans.push({ start: p, end: p + value.length, kind });
  }
  return spans;
};

/** For whole .env files: every value goes (keys kept), and comments still pass through redactSecrets' finders. */
export function redactEnvFile(text: string, options?: RedactOptions): RedactionResult {
  return redactWith(text, finders(options, [findEnvValues]));
}

const SENSITIVE_NAMES = [
  /^\.env/,
  /\.env$/,
  /\.(?:pem|key|p12|pfx|jks|keystore|tfvars|tfvars\.json)$/,
  /^id_(?:rsa|dsa|ecdsa|ed25519)(?!.*\.pub$)/,
  /^credentials/,
  /^secrets\./,
  /^\.git-credentials$/,
  /^(?:\.npmrc|\.pypirc|\.netrc|_netrc|\.htpasswd|kubeconfig)$/,
];

/** Files never sent whole to a cloud endpoint (refuse, or send through redactEnvFile). `id_rsa.pub` is public. */
export function isSensitivePath(filePath: string): boolean {
  const normal = filePath.replace(/\\/g, '/');
  const base = (normal.split('/').pop() ?? '').toLowerCase();
  if (/(?:^|\/)\.kube\/config$/.test(normal)) return true;
  return SENSITIVE_NAMES.some((re) => re.test(base));
}
