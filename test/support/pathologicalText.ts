// Inputs that make a backtracking regular expression, a rescan from every position or a quadratic overlap check take
// quadratic or exponential time: the redactor must stay linear on them. Shared by the unit test (it finishes, with
// the right answer) and bench/redact.ts (how fast, and how the time grows when the input doubles).
import { BASE64, seededChars } from './fakeSecrets';

export interface PathologicalInput {
  readonly name: string;
  readonly text: string;
  /** Whether the redactor should find secrets in it (and so change it). */
  readonly holdsSecrets: boolean;
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
    { name: 'a 1.2 MB line of code', text: 'x.token = getToken(); const password = input(); key = a.b(c, d); '.repeat(n(18_000)), holdsSecrets: false },
    { name: "'http://a:' repeated", text: 'http://a:'.repeat(n(20_000)), holdsSecrets: false },
    // Each quoted run reads as a password; an opened PEM block is redacted to the end, key or not.
    { name: "'password=\"' repeated", text: 'password="'.repeat(n(20_000)), holdsSecrets: true },
    { name: 'PEM headers without bodies', text: '-----BEGIN PRIVATE KEY-----\n'.repeat(n(5_000)), holdsSecrets: true },
  ];
}
