// Inputs that make a backtracking regular expression take quadratic or exponential time: the redactor must stay
// linear on them. Shared by the unit test (it finishes, with the right answer) and bench/redact.ts (how fast).

/** Name and text of each pathological input; `scale` multiplies the repetitions (the bench doubles it). */
export function pathologicalInputs(scale = 1): { name: string; text: string; holdsSecrets: boolean }[] {
  const n = (count: number) => Math.round(count * scale);
  return [
    { name: "'a-' repeated", text: 'a-'.repeat(n(50_000)), holdsSecrets: false },
    { name: "'x.' repeated", text: 'x.'.repeat(n(50_000)), holdsSecrets: false },
    { name: "'http://a:' repeated", text: 'http://a:'.repeat(n(20_000)), holdsSecrets: false },
    // Each quoted run reads as a password; an opened PEM block is redacted to the end, key or not.
    { name: "'password=\"' repeated", text: 'password="'.repeat(n(20_000)), holdsSecrets: true },
    { name: 'PEM headers without bodies', text: '-----BEGIN PRIVATE KEY-----\n'.repeat(n(5_000)), holdsSecrets: true },
  ];
}
