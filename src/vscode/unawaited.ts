// Work a click starts where nothing awaits it (a notification's button, a quick pick's item button): VS Code ignores
// what such a callback returns, so a rejection there would be unhandled and the user would never hear of it.
import * as vscode from 'vscode';
import { errorMessage } from '../core/errors';

/** Runs on; a failure is shown, as VS Code shows a failed command. */
export function showFailure(work: PromiseLike<unknown>): void {
  work.then(undefined, (e: unknown) => {
    void vscode.window.showErrorMessage(`Verdant: ${errorMessage(e)}`);
  });
}
