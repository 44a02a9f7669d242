// The shapes of a planned multi-file refactor: the context Verdant gathered (files, symbol occurrences, diagnostics),
// the plan the local model drafted (validated and completed against that context), and the edits a step yields.
// Plain data: the VS Code adapter fills the context from VS Code's providers, the core plans, budgets and validates.

/** One file of the workspace as it was read for planning. */
export interface RefactorFile {
  /** Workspace-relative path with forward slashes. */
  readonly path: string;
  readonly text: string;
  /** The document version (or 0 for a file read from disk): a step re-reads a file whose version moved. */
  readonly version: number;
  readonly languageId: string;
}

/** An occurrence of a symbol the change is about (from the reference/definition providers, or a text search). */
export interface SymbolHit {
  readonly path: string;
  /** 0-based. */
  readonly line: number;
  readonly character: number;
  readonly length: number;
  readonly symbol: string;
}

export interface RefactorDiagnostic {
  readonly path: string;
  readonly line: number;
  readonly message: string;
}

export interface RefactorContext {
  /** The change, in the user's words: "rename computeTotal to calculateTotal". */
  readonly request: string;
  /** The symbols involved (the selection's word, definitions, workspace symbols that match the request). */
  readonly symbols: readonly string[];
  readonly files: readonly RefactorFile[];
  readonly hits: readonly SymbolHit[];
  readonly diagnostics: readonly RefactorDiagnostic[];
}

export type StepSize = 'small' | 'medium' | 'large';

export interface PlanStep {
  /** 1-based, in order. */
  readonly id: number;
  readonly title: string;
  readonly files: readonly string[];
  readonly symbols: readonly string[];
  readonly size: StepSize;
  readonly instruction: string;
  /** True when Verdant added the step (files with occurrences the model's plan left out). */
  readonly added: boolean;
}

export interface RefactorPlan {
  readonly request: string;
  readonly steps: readonly PlanStep[];
  /** What validation changed or added, in words (shown with the plan). */
  readonly notes: readonly string[];
  /** Version of every file when planned. */
  readonly fileVersions: Readonly<Record<string, number>>;
}

/** One replacement in one file, as offsets into the file's text at execution time. */
export interface FileEdit {
  readonly path: string;
  readonly start: number;
  readonly end: number;
  readonly newText: string;
}
