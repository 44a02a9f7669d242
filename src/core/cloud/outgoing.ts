// What of a file may leave the machine. Ordinary files go through redactSecrets; a file whose path says it holds
// secrets (.env, keys, credentials: isSensitivePath) is not sent at all unless the user asks for that file
// explicitly, and then .env-style files lose every value (redactEnvFile), not only the values that look like keys:
// half of a realistic .env's secrets (database passwords, internal URLs) look like nothing in particular.
import * as path from 'node:path';
import { isSensitivePath, redactEnvFile, redactSecrets, type RedactionResult, type RedactOptions } from './redact';

/** `env`: KEY=value lines, every value a secret; `secrets-file`: keys, keystores, credentials files. */
export type SensitiveKind = 'env' | 'secrets-file';

const ENV_STYLE = /^\.env|\.env$|^(?:\.npmrc|\.pypirc|\.netrc|_netrc)$|\.tfvars$/i;

export function sensitiveKind(filePath: string): SensitiveKind | undefined {
  if (!isSensitivePath(filePath)) return undefined;
  return ENV_STYLE.test(path.posix.basename(filePath.replace(/\\/g, '/'))) ? 'env' : 'secrets-file';
}

/** A file's text as it may be sent once sending it is allowed: .env-style files keep only their keys and comments. */
export function redactFile(filePath: string, text: string, options?: RedactOptions): RedactionResult {
  return sensitiveKind(filePath) === 'env' ? redactEnvFile(text, options) : redactSecrets(text, options);
}

/** Why a file may not be sent without the user's explicit yes, in words for a message; undefined when it may. */
export function sensitiveReason(filePath: string): string | undefined {
  const kind = sensitiveKind(filePath);
  if (!kind) return undefined;
  return `${path.posix.basename(filePath.replace(/\\/g, '/'))} is ${kind === 'env' ? 'an environment file (its values are usually secrets)' : 'a key or credentials file'}`;
}

/**
 * The paths of files attached to a chat message (VS Code's chat writes attachments into the prompt with their path:
 * `<attachment ... filePath="...">`, or a fenced block whose first line names the file). Used to refuse a chat that
 * carries a secrets file to the cloud.
 */
export function attachedPaths(text: string): string[] {
  const paths = new Set<string>();
  for (const m of text.matchAll(/\bfilePath="([^"\n]{1,1024})"/g)) paths.add(m[1]!);
  for (const m of text.matchAll(/^```[^\n]*\n(?:\/\/|#)\s*filepath:\s*([^\n]{1,1024})$/gim)) paths.add(m[1]!.trim());
  return [...paths];
}

/** A unified diff (git diff) as it may be sent: a secrets file's changes are left out, its name and a note kept. */
export function redactDiff(diff: string): RedactionResult {
  const findings: RedactionResult['findings'] = [];
  let line = 1;
  const kept = diff.split(/^(?=diff --git )/m).map((section) => {
    const header = /^diff --git a\/(.+?) b\/(.+)$/m.exec(section);
    const at = line;
    line += section.split('\n').length - 1;
    const secret = header ? (sensitiveReason(header[2]!) ?? sensitiveReason(header[1]!)) : undefined;
    if (!header || !secret) return section;
    findings.push({ kind: 'secrets-file', line: at });
    return `${header[0]}\n(the changes to this file are left out: ${secret})\n`;
  });
  return { text: kept.join(''), findings };
}
