// What the redactor's finders share: the span a finder reports, and the heuristics that tell a secret value from
// code, configuration and stand-ins.

export interface Span {
  readonly start: number;
  readonly end: number;
  readonly kind: string;
}

export type Finder = (text: string) => Span[];

/** Shannon entropy, bits per character. */
export function entropy(s: string): number {
  const counts = new Map<string, number>();
  for (const c of s) counts.set(c, (counts.get(c) ?? 0) + 1);
  let h = 0;
  for (const n of counts.values()) h -= (n / s.length) * Math.log2(n / s.length);
  return h;
}

export const hasDigitAndLetter = (s: string) => /\d/.test(s) && /[A-Za-z]/.test(s);

const PLACEHOLDER_WORDS = new RegExp(
  '^(?:' +
    [
      'x+',
      '\\*+',
      '\\.+',
      '-+',
      '_+',
      '#+',
      '0+',
      '1234(?:5678?)?',
      'changeme',
      'change[-_]me',
      'changeit',
      'password\\d*',
      'passwd',
      'secret',
      'token',
      'example',
      'sample',
      'dummy',
      'test',
      'testing',
      'placeholder',
      'redacted',
      'none',
      'null',
      'nil',
      'undefined',
      'true',
      'false',
      'empty',
      'todo',
      'tbd',
      'required',
      'optional',
      'string',
      'abcdefgh?',
      'qwerty',
      'your[-_ .].*',
      'my[-_ .]?(?:secret|password|token|api[-_]?key|key)\\b.*',
      '.*[-_ ]here',
      'x{3,}.*',
      'replace[-_ ]?(?:me|this|with).*',
      'insert[-_ ].*',
      'enter[-_ ].*',
      '(?:fake|dummy|example|sample|test)[-_].*',
      '.*[-_]example',
    ].join('|') +
    ')$',
  'i',
);

/** Template references, environment lookups and obvious stand-ins: never a literal secret. */
export function isPlaceholder(value: string): boolean {
  const v = value.trim();
  if (v === '' || PLACEHOLDER_WORDS.test(v)) return true;
  if (/^[$%[{<]/.test(v)) return true; // $VAR ${VAR} $(cmd) %VAR% [REDACTED:…] {{x}} <token>
  if (/\$\{|\{\{|\.\.\.|…/.test(v)) return true;
  if (/abcdefghijklmnopqrstuvwxyz|ABCDEFGHIJKLMNOPQRSTUVWXYZ/.test(v)) return true; // an alphabet (base64's, a fake's)
  return /process\.env|os\.environ|getenv|ENV\[|System\.getenv|secrets\./.test(v);
}

/** A value that is code or configuration, not a secret: a call, a member path (`a?.b`, `a!.b`), a type, a path, a number. */
export function isCodeLike(v: string): boolean {
  return (
    /[()]/.test(v) ||
    /^[A-Za-z_$][\w$]*(?:[?!]?\.[A-Za-z_$][\w$]*)+$/.test(v) ||
    /^[A-Za-z_$][\w$.]*\.(?:length|size|count)[-+]\d+$/.test(v) || // `t.tokens.length-1`
    /^\d+(?:\.\d+)?$/.test(v) ||
    /^(?:~|\.{1,2})?\/[a-z0-9_./-]*$/.test(v) ||
    /^[!&*@#-]/.test(v)
  );
}

export const isUuid = (v: string) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(v);
export const isGitSha = (v: string) => /^[0-9a-f]{40}$/.test(v);

/** Mostly lower-case words (`value%23still-query`, `session-cache-v2`): text, where a key's characters are random. */
function wordy(v: string): boolean {
  const words = v.match(/[a-z]{4,}/g) ?? [];
  return words.length >= 2 && words.join('').length * 2 >= v.length;
}

/** A value for a weak name (key, salt): long, mixed and random enough to be one. */
export function weakSecret(v: string): boolean {
  return v.length >= 16 && !/\s/.test(v) && hasDigitAndLetter(v) && entropy(v) >= 3 && !isUuid(v) && !isGitSha(v) && !wordy(v) && !isPlaceholder(v);
}

/**
 * Spans of the group named `v`, else group 1, else the whole match of a global regex, kept when `accept` agrees and
 * `kind` (when a function) names a kind.
 */
export function pattern(
  kind: string | ((m: RegExpExecArray) => string | undefined),
  re: RegExp,
  accept: (value: string, m: RegExpExecArray) => boolean = () => true,
): Finder {
  const flags = re.flags.includes('d') ? re.flags : re.flags + 'd';
  return (text) => {
    const spans: Span[] = [];
    const rx = new RegExp(re.source, flags);
    for (let m = rx.exec(text); m !== null; m = rx.exec(text)) {
      if (m[0] === '') {
        rx.lastIndex++;
        continue;
      }
      const named = m.groups?.v !== undefined ? m.indices?.groups?.v : undefined;
      const group = m.length > 1 && m[1] !== undefined ? 1 : 0;
      const [start, end] = named ?? m.indices?.[group] ?? [m.index, m.index + m[0].length];
      const value = text.slice(start, end);
      const k = typeof kind === 'string' ? kind : kind(m);
      if (k !== undefined && accept(value, m)) spans.push({ start, end, kind: k });
    }
    return spans;
  };
}

export const randomish = (min: number) => (v: string) => v.length >= min && hasDigitAndLetter(v) && entropy(v) >= 3.5 && !isPlaceholder(v);
