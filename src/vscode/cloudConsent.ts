// Consent to send this workspace's code to the cloud endpoint: asked once per workspace, remembered in the
// workspace state, revocable. Untrusted workspaces are never asked: they never burst.
import * as vscode from 'vscode';

const KEY = 'verdant.cloudConsent';

export type Consent = 'granted' | 'denied' | 'unknown';

export class CloudConsent {
  private readonly asked = new vscode.EventEmitter<string>();
  private readonly changed = new vscode.EventEmitter<Consent>();
  /** Fires with the endpoint host each time the user is asked (tests watch it). */
  readonly onDidAsk = this.asked.event;

  constructor(private readonly state: vscode.Memento) {}

  get value(): Consent {
    return this.state.get<Consent>(KEY) ?? 'unknown';
  }

  async set(value: Consent): Promise<void> {
    await this.state.update(KEY, value === 'unknown' ? undefined : value);
    this.changed.fire(value);
  }

  /**
   * Asks (non-modal, so it never blocks the editor) whether this workspace's code may go to `host`. Resolves with
   * the answer; dismissing the question leaves it unknown and keeps the work local this time.
   */
  async ask(host: string, what: string): Promise<Consent> {
    if (!vscode.workspace.isTrusted) return 'denied';
    this.asked.fire(host);
    const allow = 'Allow for this workspace';
    const local = 'Keep it local';
    const question = vscode.window.showWarningMessage(
      `Verdant would send ${what} from this workspace to ${host} (redacted of secrets). Allow cloud requests for this workspace?`,
      allow,
      local,
    );
    // The answer may also come from elsewhere (another window's question, a command) while this one is open.
    let listener: vscode.Disposable | undefined;
    const elsewhere = new Promise<undefined>((resolve) => {
      listener = this.changed.event(() => resolve(undefined));
    });
    const choice = await Promise.race([question, elsewhere]);
    listener?.dispose();
    if (choice === allow) await this.set('granted');
    else if (choice === local) await this.set('denied');
    return this.value;
  }

  dispose(): void {
    this.asked.dispose();
    this.changed.dispose();
  }
}
