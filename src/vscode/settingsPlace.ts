// Where Verdant's machine-scoped settings live (#22): in a remote window (code-server, Remote-SSH, WSL, Codespaces)
// VS Code keeps them only in the Remote settings, so they are not on the User tab where people look. Commands that
// write them say where they went, and Open Settings opens the tab where they are.
import * as vscode from 'vscode';

/** The settings a machine-scoped value is written to from this window, in words. */
export function machineSettingsPlace(remoteName: string | undefined = vscode.env.remoteName): string {
  return remoteName ? `the Remote settings (${remoteName})` : 'your user settings';
}

/** Opens the settings editor on Verdant's settings, on the Remote tab in a remote window. */
export function openVerdantSettings(extensionId: string): Thenable<unknown> {
  const query = `@ext:${extensionId}`;
  return vscode.env.remoteName
    ? vscode.commands.executeCommand('workbench.action.openRemoteSettings', { query })
    : vscode.commands.executeCommand('workbench.action.openSettings', query);
}
