// The cloud API key lives only in VS Code's SecretStorage (the OS keychain on desktop), never in settings or logs.
import * as vscode from 'vscode';

const CLOUD_KEY = 'verdant.cloud.apiKey';

export class CloudKeyStore {
  readonly onDidChange: vscode.Event<void>;

  constructor(private readonly secrets: vscode.SecretStorage) {
    this.onDidChange = (listener, thisArgs, disposables) =>
      secrets.onDidChange(
        (e) => {
          if (e.key === CLOUD_KEY) listener.call(thisArgs);
        },
        undefined,
        disposables,
      );
  }

  async has(): Promise<boolean> {
    return Boolean(await this.secrets.get(CLOUD_KEY));
  }

  /** The key itself: handed only to the cloud client's Authorization header. */
  async get(): Promise<string | undefined> {
    return (await this.secrets.get(CLOUD_KEY)) || undefined;
  }

  async set(key: string): Promise<void> {
    await this.secrets.store(CLOUD_KEY, key);
  }

  async clear(): Promise<void> {
    await this.secrets.delete(CLOUD_KEY);
  }
}
