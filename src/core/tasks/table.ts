// The palette tasks, one row each: the command that starts it, the kind the router knows it by (a new task maps to
// an existing kind, so adding one needs no retraining), whether it may wait for a cleaner window, what consent names
// as sent, and its prompt. Pure: the same messages go to the local model and (redacted) to a cloud endpoint, and the
// user can see exactly what was sent.
import type { ChatMessage } from '../inference/types';
import type { RoutingKind } from '../routing/features';

export type TaskKind = 'explain' | 'refactor' | 'ask' | 'tests' | 'summarize' | 'commit';

export interface TaskContext {
  readonly languageId: string;
  readonly filePath: string;
  /** The selection (explain, refactor) or the current file (ask). */
  readonly code: string;
  /** The user's words: the refactoring wanted, or the question. */
  readonly instruction?: string;
}

export interface TaskSpec {
  /** The palette command. */
  readonly command: string;
  readonly routingKind: RoutingKind;
  /** May be queued for the cleanest window of the forecast ("Run Task When Clean", or the router's "later"). */
  readonly deferrable: boolean;
  /** What consent says is sent, e.g. "the selected code". */
  readonly sends: string;
  /** The result document's title, before the file's path: "Summary of src/a.ts". */
  readonly title: string;
  readonly prompt: (ctx: TaskContext) => ChatMessage[];
}

const SYSTEM = 'You are Verdant, a concise coding assistant inside VS Code. Answer precisely; do not invent APIs.';

function fenced(ctx: TaskContext): string {
  return `\`\`\`${ctx.languageId}\n${ctx.code}\n\`\`\``;
}

export const TASKS: Readonly<Record<TaskKind, TaskSpec>> = {
  explain: {
    command: 'verdant.explainSelection',
    routingKind: 'explain',
    deferrable: true,
    sends: 'the selected code',
    title: 'Explanation of',
    prompt: (ctx) => [
      { role: 'system', content: SYSTEM },
      {
        role: 'user',
        content: `Explain what this code from ${ctx.filePath} does, step by step, and point out anything surprising or risky.\n\n${fenced(ctx)}`,
      },
    ],
  },
  refactor: {
    command: 'verdant.refactorSelection',
    routingKind: 'refactor',
    deferrable: false,
    sends: 'the selected code',
    title: 'Refactoring of',
    prompt: (ctx) => [
      {
        role: 'system',
        content: `${SYSTEM} When asked to refactor, reply with the complete replacement code in one fenced code block, then at most three short sentences on what changed.`,
      },
      {
        role: 'user',
        content: `Refactor this code from ${ctx.filePath}${ctx.instruction ? `: ${ctx.instruction}` : ' for clarity, keeping its behaviour'}.\n\n${fenced(ctx)}`,
      },
    ],
  },
  ask: {
    command: 'verdant.ask',
    routingKind: 'ask',
    deferrable: true,
    sends: 'your question and the current file',
    title: 'Answer about',
    prompt: (ctx) => [
      { role: 'system', content: SYSTEM },
      { role: 'user', content: `${ctx.instruction ?? ''}\n\nThe current file is ${ctx.filePath}:\n\n${fenced(ctx)}` },
    ],
  },
  tests: {
    command: 'verdant.generateTests',
    routingKind: 'tests',
    deferrable: true,
    sends: 'the code to test',
    title: 'Tests for',
    prompt: (ctx) => [
      {
        role: 'system',
        content: `${SYSTEM} When asked for tests, reply with one fenced code block of runnable tests in the project's usual framework for this language, covering normal cases, edge cases and errors.`,
      },
      { role: 'user', content: `Write unit tests for this code from ${ctx.filePath}.\n\n${fenced(ctx)}` },
    ],
  },
  summarize: {
    command: 'verdant.summarizeFile',
    routingKind: 'summarize',
    deferrable: true,
    sends: 'the current file',
    title: 'Summary of',
    prompt: (ctx) => [
      { role: 'system', content: SYSTEM },
      {
        role: 'user',
        content: `Summarize ${ctx.filePath} for a developer new to it: its purpose, its main parts and how they fit, and anything surprising. Use short markdown sections.\n\n${fenced(ctx)}`,
      },
    ],
  },
  commit: {
    command: 'verdant.writeCommitMessage',
    routingKind: 'commit',
    deferrable: false,
    sends: 'the staged diff',
    title: 'Commit message for',
    prompt: (ctx) => [
      {
        role: 'system',
        content: `${SYSTEM} Write git commit messages: an imperative subject line of at most 72 characters, a blank line, then a short body saying what changed and why. Reply with the message only.`,
      },
      { role: 'user', content: `Write the commit message for this staged diff.\n\n\`\`\`diff\n${ctx.code}\n\`\`\`` },
    ],
  },
};

/** A palette task queued for a clean window is expected to take this long, minutes. */
export const DEFERRED_TASK_MINUTES = 5;

export const TASK_KINDS = Object.keys(TASKS) as TaskKind[];

/** The tasks that may wait for a clean window: their input is captured when queued, the result is a document. */
export const DEFERRABLE_TASKS = TASK_KINDS.filter((k) => TASKS[k].deferrable);

export function isDeferrable(kind: string): kind is TaskKind {
  return (TASK_KINDS as string[]).includes(kind) && TASKS[kind as TaskKind].deferrable;
}

export function taskMessages(kind: TaskKind, ctx: TaskContext): ChatMessage[] {
  return TASKS[kind].prompt(ctx);
}

/**
 * The replacement code from an answer: the longest fenced block, without its fences. Undefined when the answer has
 * no code block.
 */
export function extractCodeBlock(answer: string): string | undefined {
  const blocks = [...answer.matchAll(/```[^\n`]*\n([\s\S]*?)```/g)].map((m) => m[1]!.replace(/\n$/, ''));
  if (blocks.length === 0) return undefined;
  return blocks.reduce((a, b) => (b.length > a.length ? b : a));
}
