// Secrets recognised by their format (a known prefix, a known shape), needing no name next to them.
import { type Finder, hasDigitAndLetter, isPlaceholder, pattern, randomish } from './secretValues';

const DB_SCHEMES = /^(?:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|redis|rediss|amqps?|mssql|sqlserver|jdbc:[a-z]+|cockroachdb|clickhouse|neo4j(?:\+s)?|couchbase)$/i;

function basicAuth(v: string): boolean {
  const decoded = Buffer.from(v, 'base64').toString('utf8');
  return /^[\x20-\x7e]+:[\x20-\x7e]+$/.test(decoded);
}

/** Known token formats, strongest evidence first. */
export const FORMAT_FINDERS: readonly Finder[] = [
  // Whole PEM block, BEGIN to END; a block cut off by the end of the window is redacted to the end.
  pattern('private-key', /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----(?:[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|[\s\S]*$)/g),
  pattern('aws-access-key', /(?<![A-Za-z0-9])((?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)[A-Z0-9]{16})(?![A-Za-z0-9])/g),
  pattern('github-token', /(?<![A-Za-z0-9_])(gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{22,242})(?![A-Za-z0-9_])/g),
  pattern('gitlab-token', /(?<![A-Za-z0-9_-])(gl(?:pat|dt|rt|ptt|soat)-[A-Za-z0-9_-]{20,})/g),
  pattern('slack-token', /(?<![A-Za-z0-9])(xox[abeprs]-[A-Za-z0-9-]{10,})/g, (v) => /\d/.test(v)),
  pattern('slack-webhook', /https:\/\/hooks\.slack\.com\/services\/(T[A-Z0-9]+\/B[A-Z0-9]+\/[A-Za-z0-9]+)/g),
  pattern('stripe-key', /(?<![A-Za-z0-9_])((?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}|whsec_[A-Za-z0-9]{24,})/g),
  pattern('anthropic-key', /(?<![A-Za-z0-9_-])(sk-ant-[A-Za-z0-9_-]{20,})/g),
  pattern('openai-key', /(?<![A-Za-z0-9_-])(sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,})/g, randomish(20)),
  pattern('google-api-key', /(?<![A-Za-z0-9_-])(AIza[0-9A-Za-z_-]{35})(?![A-Za-z0-9_-])/g),
  pattern('huggingface-token', /(?<![A-Za-z0-9_])(hf_[A-Za-z0-9]{34,})(?![A-Za-z0-9_])/g, randomish(34)),
  pattern('npm-token', /(?<![A-Za-z0-9_])(npm_[A-Za-z0-9]{36})(?![A-Za-z0-9_])/g),
  pattern('pypi-token', /(?<![A-Za-z0-9_-])(pypi-AgE[A-Za-z0-9_-]{50,})/g),
  pattern('jwt', /(?<![A-Za-z0-9_-])(eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*)/g),
  pattern('azure-storage-key', /(?:AccountKey|SharedAccessKey|SharedSecretValue)=([A-Za-z0-9+/]{20,}={0,2})/g),
  pattern('azure-sas-signature', /[?&]sig=([A-Za-z0-9%+/=]{20,})/g),
  // scheme://user:password@host: only the password goes; the user and host help the model.
  pattern((m) => (DB_SCHEMES.test(m[1]) ? 'db-password' : 'url-password'),
    /(?<![A-Za-z0-9+.-])((?:jdbc:)?[a-z][a-z0-9+.-]*):\/\/[^\s:/?#@'"`<>]*:(?<v>[^\s/?#@'"`<>]+)@/gi,
    (v) => v.length >= 3 && !isPlaceholder(v) && !/^(?:pass|pwd|pw|user)$/i.test(v)),
  pattern('bearer-token', /\b(?:[Bb]earer|BEARER|[Tt]oken|Bot)\s+([A-Za-z0-9._~+/-]{16,}=*)/g, (v) => hasDigitAndLetter(v) && !isPlaceholder(v)),
  pattern('basic-auth', /\bBasic\s+([A-Za-z0-9+/]{8,}={0,2})(?![A-Za-z0-9+/=])/g, basicAuth),
];
