// Context keys Verdant sets for package.json's `when` clauses (menus.commandPalette): commands that act on something
// pending show in the Command Palette only while it is (#22). No vscode import, so the manifest test can read them.

/** A proposed refactoring of a selection awaits Apply or Discard (proposals.ts). */
export const PROPOSAL_PENDING_CONTEXT = 'verdant.proposalPending';

/** Plan Refactor's states (refactor.ts): its review is open, a stopped refactor can resume, its plan list is open. */
export const REFACTOR_CONTEXT = {
  review: 'verdant.refactorReview',
  resumable: 'verdant.refactorResumable',
  planOpen: 'verdant.refactorPlanOpen',
} as const;
