// A palette refactoring's answer as a proposal: shown as a diff (original | proposed), applied as one undoable edit
// only when the document has not changed since, or discarded. Applying or discarding a local proposal tells the
// router whether the local model's answer did.
import * as vscode from 'vscode';
import { PROPOSAL_PENDING_CONTEXT } from './contextKeys';
import type { RoutingKind } from '../core/routing/features';

const SCHEME = 'verdant-proposal';

export interface Proposal {
  readonly id: number;
  readonly kind: RoutingKind;
  readonly route: 'local' | 'cloud';
  readonly uri: vscode.Uri;
  readonly range: vscode.Range;
  readonly version: number;
  readonly original: string;
  readonly proposed: string;
}

export class Proposals implements vscode.Disposable {
  private readonly proposals = new Map<number, Proposal>();
  private current: Proposal | undefined;
  private nextId = 1;
  private readonly provider: vscode.Disposable;

  constructor(private readonly recordAcceptance: (kind: RoutingKind, accepted: boolean) => void) {
    this.provider = vscode.workspace.registerTextDocumentContentProvider(SCHEME, {
      provideTextDocumentContent: (uri) => {
        const [side, id] = uri.path.replace(/^\//, '').split('/');
        const p = this.proposals.get(Number(id));
        return p ? (side === 'original' ? p.original : p.proposed) : '';
      },
    });
  }

  dispose(): void {
    this.provider.dispose();
  }

  /** Keeps the proposal and shows it as a diff titled `title`. */
  async show(p: Omit<Proposal, 'id'>, title: string): Promise<Proposal> {
    const proposal = { ...p, id: this.nextId++ };
    this.proposals.set(proposal.id, proposal);
    this.current = proposal;
    this.syncContext();
    await vscode.commands.executeCommand(
      'vscode.diff',
      vscode.Uri.from({ scheme: SCHEME, path: `/original/${proposal.id}` }),
      vscode.Uri.from({ scheme: SCHEME, path: `/proposed/${proposal.id}` }),
      title,
    );
    return proposal;
  }

  /** Applies a proposal (the last one by default) as one undoable edit, if the document has not changed since. */
  async apply(id?: number): Promise<boolean> {
    const p = id !== undefined ? this.proposals.get(id) : this.current;
    if (!p) return false;
    const doc = await vscode.workspace.openTextDocument(p.uri);
    if (doc.version !== p.version || doc.getText(p.range) !== p.original) {
      void vscode.window.showWarningMessage('Verdant: the file changed since the refactoring was proposed; run it again.');
      return false;
    }
    const edit = new vscode.WorkspaceEdit();
    edit.replace(p.uri, p.range, p.proposed);
    const ok = await vscode.workspace.applyEdit(edit);
    if (ok) {
      if (p.route === 'local') this.recordAcceptance(p.kind, true);
      this.forget(p);
    }
    return ok;
  }

  /** Discarding a local proposal says the local model's answer did not do. */
  discard(id?: number): void {
    const p = id !== undefined ? this.proposals.get(id) : this.current;
    if (!p) return;
    if (p.route === 'local') this.recordAcceptance(p.kind, false);
    this.forget(p);
  }

  private forget(p: Proposal): void {
    this.proposals.delete(p.id);
    if (this.current === p) this.current = undefined;
    this.syncContext();
  }

  /** Apply / Discard Selection Refactoring show in the Command Palette only while one is pending (#22). */
  private syncContext(): void {
    void vscode.commands.executeCommand('setContext', PROPOSAL_PENDING_CONTEXT, this.proposals.size > 0).then(undefined, () => {});
  }
}
