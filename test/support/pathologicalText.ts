// Inputs that make a backtracking regular expression, a rescan from every position or a quadratic overlap check take
// quadratic or exponential time: the redactor must stay linear on them. Shared by the unit test (it finishes, with
// the right answer) and bench/redact.ts (how fast, and how the time grows when the input doubles).
import { BASE32, BASE64, HEX, seededChars } from './fakeSecrets';

export interface PathologicalInput {
  readonly name: string;
  readonly text: string;
  /** Whether the redactor should find secrets in it (and so change it). */
  readonly holdsSecrets: boolean;
}

/** `count` AWS access key ids, each followed by a 40-character base64 token (the secret a positional call passes). */
function awsPairs(count: number): string {
  const pair = (i: number) => `AKIA${seededChars(16, BASE32, i)} ${seededChars(40, BASE64, i + 1)}\n`;
  return Array.from({ length: count }, (_, i) => pair(i % 64)).join('');
}

/** Name and text of each pathological input; `scale` multiplies the repetitions (the bench doubles it). */
export function pathologicalInputs(scale = 1): PathologicalInput[] {
  const n = (count: number) => Math.round(count * scale);
  return [
    // 1.2 MB: froze the extension host for 21 s when each `token=` read the 4 KB after it as its value.
    { name: "'token=' repeated", text: 'token='.repeat(n(200_000)), holdsSecrets: true },
    { name: "'key=' repeated", text: 'key='.repeat(n(300_000)), holdsSecrets: false },
    { name: "'a=' repeated", text: 'a='.repeat(n(600_000)), holdsSecrets: false },
    { name: "'a-' repeated", text: 'a-'.repeat(n(50_000)), holdsSecrets: false },
    { name: "'a--' repeated", text: 'a--'.repeat(n(400_000)), holdsSecrets: false },
    { name: "'x.' repeated", text: 'x.'.repeat(n(50_000)), holdsSecrets: false },
    { name: 'a line of =', text: '='.repeat(n(1_200_000)), holdsSecrets: false },
    { name: 'a run of base64 characters', text: 'Q' + seededChars(n(1_200_000), BASE64), holdsSecrets: false },
    {
      name: 'a 1.2 MB line of code',
      text: 'x.token = tokens[i]; const password = input(); key = a.b(c, d); '.repeat(n(18_000)),
      holdsSecrets: false,
    },
    { name: "'http://a:' repeated", text: 'http://a:'.repeat(n(20_000)), holdsSecrets: false },
    // The context-based finders: one curl command line, auth tuples, key ids beside candidates, base64 and hex runs.
    { name: "'curl -u a:b ' repeated", text: 'curl -u a:b '.repeat(n(100_000)), holdsSecrets: false },
    { name: '"auth=(\'u\', " repeated', text: "auth=('u', ".repeat(n(100_000)), holdsSecrets: false },
    { name: 'AWS key ids beside 40-character tokens', text: awsPairs(n(15_000)), holdsSecrets: true },
    { name: "'LS0tLS1CRUdJTi' repeated", text: 'LS0tLS1CRUdJTi'.repeat(n(85_000)), holdsSecrets: false },
    { name: "'sha256:' and 64 hex digits repeated", text: ('sha256:' + seededChars(64, HEX, 7) + ' ').repeat(n(16_000)), holdsSecrets: false },
    // Each quoted value is 'password=', which names its key: a constant, not a password.
    { name: "'password=\"' repeated", text: 'password="'.repeat(n(20_000)), holdsSecrets: false },
    // A header is a key only with a base64 body after it; each END marker is looked for once, not once per header.
    { name: 'PEM headers without bodies', text: '-----BEGIN PRIVATE KEY-----\n'.repeat(n(5_000)), holdsSecrets: false },
    {
      name: 'PEM headers with bodies, one END',
      text: `-----BEGIN PRIVATE KEY-----\n${'A'.repeat(64)}\n`.repeat(n(5_000)) + '-----END PRIVATE KEY-----\n',
      holdsSecrets: true,
    },
  ];
}
