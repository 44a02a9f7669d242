// Prompts for the palette tasks, as chat messages. Pure: the same text goes to the local model and to a cloud
// endpoint (after secret redaction), and the user can see exactly what was sent.
import type { ChatMessage } from '../inference/types';

export type TaskKind = 'explain' | 'refactor' | 'ask' | 'tests' | 'summarize' | 'commit';

export interface TaskContext {
  readonly languageId: string;
  readonly filePath: string;
  /** The selection (explain, refactor) or the current file (ask). */
  readonly code: string;
  /** The user's words: the refactoring wanted, or the question. */
  readonly instruction?: string;
}

const SYSTEM = 'You are Verdant, a concise coding assistant inside VS Code. Answer precisely; do not invent APIs.';

export function taskMessages(kind: TaskKind, ctx: TaskContext): ChatMessage[] {
  const fence = '```';
  const code = `${fence}${ctx.languageId}\n${ctx.code}\n${fence}`;
  switch (kind) {
    case 'explain':
      return [
        { role: 'system', content: SYSTEM },
        { role: 'user', content: `Explain what this code from ${ctx.filePath} does, step by step, and point out anything surprising or risky.\n\n${code}` },
      ];
    case 'refactor':
      return [
        { role: 'system', content: `${SYSTEM} When asked to refactor, reply with the complete replacement code in one fenced code block, then at most three short sentences on what changed.` },
        { role: 'user', content: `Refactor this code from ${ctx.filePath}${ctx.instruction ? `: ${ctx.instruction}` : ' for clarity, keeping its behaviour'}.\n\n${code}` },
      ];
    case 'ask':
      return [
        { role: 'system', content: SYSTEM },
        { role: 'user', content: `${ctx.instruction ?? ''}\n\nThe current file is ${ctx.filePath}:\n\n${code}` },
      ];
    case 'tests':
      return [
        { role: 'system', content: `${SYSTEM} When asked for tests, reply with one fenced code block of runnable tests in the project's usual framework for this language, covering normal cases, edge cases and errors.` },
        { role: 'user', content: `Write unit tests for this code from ${ctx.filePath}.\n\n${code}` },
      ];
    case 'summarize':
      return [
        { role: 'system', content: SYSTEM },
        { role: 'user', content: `Summarize ${ctx.filePath} for a developer new to it: its purpose, its main parts and how they fit, and anything surprising. Use short markdown sections.\n\n${code}` },
      ];
    case 'commit':
      return [
        { role: 'system', content: `${SYSTEM} Write git commit messages: an imperative subject line of at most 72 characters, a blank line, then a short body saying what changed and why. Reply with the message only.` },
        { role: 'user', content: `Write the commit message for this staged diff.\n\n\`\`\`diff\n${ctx.code}\n\`\`\`` },
      ];
  }
}

/**
 * The replacement code from a refactoring answer: the first fenced block (the longest one when several), without
 * its fences. Undefined when the answer has no code block.
 */
export function extractCodeBlock(answer: string): string | undefined {
  const blocks = [...answer.matchAll(/```[^\n`]*\n([\s\S]*?)```/g)].map((m) => m[1].replace(/\n$/, ''));
  if (blocks.length === 0) return undefined;
  return blocks.reduce((a, b) => (b.length > a.length ? b : a));
}
