// Secrets recognised by their format (a known prefix, a known shape), needing no name next to them.
import { entropy, type Finder, hasDigitAndLetter, isPlaceholder, pattern, randomish, type Span } from './secretValues';

const DB_SCHEMES =
  /^(?:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|redis|rediss|amqps?|mssql|sqlserver|jdbc:[a-z]+|cockroachdb|clickhouse|neo4j(?:\+s)?|couchbase)$/i;

function basicAuth(v: string): boolean {
  const decoded = Buffer.from(v, 'base64').toString('utf8');
  return /^[\x20-\x7e]+:[\x20-\x7e]+$/.test(decoded);
}

/** Random enough for a token body: test values and stand-ins (xxxx, 0000, abcabc) fall short. */
const random = (min: number) => (v: string) => entropy(v) >= min && !isPlaceholder(v);

const PEM_PRIVATE_HEADER = /^-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----/;

/**
 * What follows a PEM header in a real key: base64 (after a newline, or `\n` in a JSON string), perhaps after the
 * Proc-Type and DEK-Info lines of an encrypted one. Documentation writes `BEGIN PRIVATE KEY----- ...` instead.
 */
const keyBody = (text: string, at: number) => /^(?:\s|\\[nr])*(?:Proc-Type:[^\n]*\n[^\n]*\n\s*)?[A-Za-z0-9+/=]{16}/.test(text.slice(at, at + 400));

/**
 * Whole PEM private-key blocks, BEGIN to END; a block cut off by the end of the window is redacted to the end. A
 * header without a key body after it is skipped (and the text after it still searched); each END is looked for once.
 */
const findPemKeys: Finder = (text) => {
  const spans: Span[] = [];
  const begin = /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----/g;
  const endMarker = /-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----/g;
  let end: RegExpExecArray | null | undefined; // the first END at or after the last search; null: there is none
  for (let b = begin.exec(text); b !== null; b = begin.exec(text)) {
    const body = b.index + b[0].length;
    if (!keyBody(text, body)) continue;
    if (end !== null && (end === undefined || end.index < body)) {
      endMarker.lastIndex = body;
      end = endMarker.exec(text);
    }
    const stop = end ? end.index + end[0].length : text.length;
    spans.push({ start: b.index, end: stop, kind: 'private-key' });
    begin.lastIndex = stop;
  }
  return spans;
};

/** A JSON key that names a credential: a docker config's auths/auth/password, a service account's private_key. */
const CREDENTIAL_KEYS = /(?<!\\)"(?:auths?|password|identitytoken|private_key|client_secret|refresh_token)"\s*:/;

/**
 * What a base64 blob hides: Kubernetes Secrets, CI variables and docker configs carry keys base64-encoded, where no
 * format shows through. The kind of secret it decodes to, or undefined for anything else (an image, a source map).
 */
function encodedSecret(v: string): string | undefined {
  const decoded = Buffer.from(v, 'base64').toString('latin1');
  if (PEM_PRIVATE_HEADER.test(decoded)) return 'private-key';
  if (/^\s*\{/.test(decoded) && CREDENTIAL_KEYS.test(decoded)) return 'encoded-credentials';
  return undefined;
}

/** A Telegram bot token's id: 5 to 16 digits before the ':', alone or after /bot. */
const telegramId = (m: RegExpExecArray) => /(?:\/bot|^|[^A-Za-z0-9_:])\d{5,16}$/.test(m.input.slice(Math.max(0, m.index - 20), m.index));

/** A Discord bot token's first part is the bot's numeric id in base64. */
const discordBotToken = (v: string) => /^\d{17,20}$/.test(Buffer.from(v.slice(0, v.indexOf('.')), 'base64').toString('latin1'));

/** Where a URL's path is the credential (webhooks), its last segment carries the randomness. */
const lastSegmentRandom = (v: string) => random(3)(v.slice(v.lastIndexOf('/') + 1)) && v.length - v.lastIndexOf('/') > 16;

/**
 * Known token formats, strongest evidence first. Each pattern starts at a literal prefix or only where a run of its
 * characters starts (a lookbehind), so a long run costs one attempt, not one per position.
 */
export const FORMAT_FINDERS: readonly Finder[] = [
  findPemKeys,
  // AWS's documentation keys end in EXAMPLE.
  pattern(
    'aws-access-key',
    /(?<![A-Za-z0-9])((?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)[A-Z0-9]{16})(?![A-Za-z0-9])/g,
    (v) => !v.endsWith('EXAMPLE'),
  ),
  pattern('github-token', /(?<![A-Za-z0-9_])(gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{22,242})(?![A-Za-z0-9_])/g),
  pattern('gitlab-token', /(?<![A-Za-z0-9_-])(gl(?:pat|dt|rt|ptt|soat)-[A-Za-z0-9_-]{20,})/g),
  // Bot, user, app-level (xapp-), configuration (xoxe.xoxp-) and legacy tokens.
  pattern(
    'slack-token',
    /(?<![A-Za-z0-9.])(xox[abeoprs]-[A-Za-z0-9-]{10,}|xoxe\.xox[bp]-\d-[A-Za-z0-9]{100,}|xapp-\d-[A-Za-z0-9-]{20,})/g,
    (v) => /\d/.test(v) && random(2.5)(v),
  ),
  // Incoming webhooks (services/), workflow webhooks (workflows/) and triggers: the path is the credential.
  pattern('slack-webhook', /https:\/\/hooks\.slack\.com\/(?:services|workflows|triggers)\/(T[A-Z0-9]{6,}(?:\/[A-Za-z0-9]+)+)/g, lastSegmentRandom),
  pattern(
    'discord-webhook',
    /https:\/\/(?:(?:canary|ptb)\.)?discord(?:app)?\.com\/api\/(?:v\d+\/)?webhooks\/(\d{17,20}\/[A-Za-z0-9_-]{60,})/g,
    lastSegmentRandom,
  ),
  pattern('stripe-key', /(?<![A-Za-z0-9_])((?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}|whsec_[A-Za-z0-9]{24,})/g),
  pattern('anthropic-key', /(?<![A-Za-z0-9_-])(sk-ant-[A-Za-z0-9_-]{20,})/g),
  pattern('openai-key', /(?<![A-Za-z0-9_-])(sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,})/g, randomish(20)),
  pattern('google-api-key', /(?<![A-Za-z0-9_-])(AIza[0-9A-Za-z_-]{35})(?![A-Za-z0-9_-])/g),
  // An OAuth client's secret, and an OAuth access token (dots separate the parts of some).
  pattern('google-oauth-secret', /(?<![A-Za-z0-9_-])(GOCSPX-[A-Za-z0-9_-]{28})(?![A-Za-z0-9_-])/g, random(3)),
  pattern(
    'google-oauth-token',
    /(?<![A-Za-z0-9_.-])(ya29\.[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*)/g,
    (v) => v.length >= 40 && hasDigitAndLetter(v) && random(3.5)(v),
  ),
  pattern('huggingface-token', /(?<![A-Za-z0-9_])(hf_[A-Za-z0-9]{34,})(?![A-Za-z0-9_])/g, randomish(34)),
  pattern('npm-token', /(?<![A-Za-z0-9_])(npm_[A-Za-z0-9]{36})(?![A-Za-z0-9_])/g),
  pattern('pypi-token', /(?<![A-Za-z0-9_-])(pypi-AgE[A-Za-z0-9_-]{50,})/g),
  pattern('sendgrid-key', /(?<![A-Za-z0-9_.-])(SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43})(?![A-Za-z0-9_-])/g, random(3.5)),
  // A Twilio API key's SID (SK…) is half a credential; the account SID (AC…) is an identifier and stays.
  pattern('twilio-api-key', /(?<![A-Za-z0-9])(SK[0-9a-f]{32})(?![A-Za-z0-9])/g, random(3)),
  // <bot id>:<secret>, the id alone or after /bot in a Bot API URL; the secret goes, the id (public) stays. The match
  // starts at ':A', which is rare, and looks back for the id.
  pattern('telegram-bot-token', /:(A[A-Za-z0-9_-]{34})(?![A-Za-z0-9_-])/g, (v, m) => telegramId(m) && hasDigitAndLetter(v) && random(3.5)(v)),
  pattern(
    'discord-bot-token',
    /(?<![A-Za-z0-9_.-])([MNO][A-Za-z0-9_-]{23,27}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,40})(?![A-Za-z0-9_.-])/g,
    discordBotToken,
  ),
  pattern('digitalocean-token', /(?<![A-Za-z0-9_])(do[opr]_v1_[a-f0-9]{64})(?![A-Za-z0-9_])/g, random(3)),
  pattern('shopify-token', /(?<![A-Za-z0-9_])(shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32})(?![A-Za-z0-9_])/g, random(3)),
  pattern('age-secret-key', /(?<![A-Za-z0-9-])(AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58})(?![A-Za-z0-9])/g),
  pattern('jwt', /(?<![A-Za-z0-9_-])(eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*)/g),
  // Base64 of a PEM private key (LS0tLS1CRUdJTi is "-----BEGIN") or of a JSON credential file (eyJ is '{"').
  pattern((m) => encodedSecret(m[1]!), /(?<![A-Za-z0-9+/=_.-])((?:LS0tLS1CRUdJTi|eyJ|ewo|ew0K|eyAi)[A-Za-z0-9+/]{16,}={0,2})(?![A-Za-z0-9+/=_.-])/g),
  pattern('azure-storage-key', /(?:AccountKey|SharedAccessKey|SharedSecretValue)=([A-Za-z0-9+/]{20,}={0,2})/g),
  pattern('azure-sas-signature', /[?&]sig=([A-Za-z0-9%+/=]{20,})/g),
  // scheme://user:password@host: only the password goes; the user and host help the model.
  pattern(
    (m) => (DB_SCHEMES.test(m[1]!) ? 'db-password' : 'url-password'),
    /(?<![A-Za-z0-9+.-])((?:jdbc:)?[a-z][a-z0-9+.-]*):\/\/[^\s:/?#@'"`<>]*:(?<v>[^\s/?#@'"`<>]+)@/gi,
    (v) => v.length >= 3 && !isPlaceholder(v) && !/^(?:pass|pwd|pw|user|abc|xyz|foo|bar|baz)$/i.test(v),
  ),
  pattern('bearer-token', /\b(?:[Bb]earer|BEARER|[Tt]oken|Bot)\s+([A-Za-z0-9._~+/-]{16,}=*)/g, (v) => hasDigitAndLetter(v) && !isPlaceholder(v)),
  pattern('basic-auth', /\bBasic\s+([A-Za-z0-9+/]{8,}={0,2})(?![A-Za-z0-9+/=])/g, basicAuth),
];
