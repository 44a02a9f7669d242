// The status-bar item. It only renders a StatusView (core/status.ts); it decides nothing itself.
import * as vscode from 'vscode';
import type { StatusView } from '../core/status';

export const STATUS_ITEM_ID = 'verdant.status';

export class StatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem(STATUS_ITEM_ID, vscode.StatusBarAlignment.Right, 100);

  constructor(command: string) {
    this.item.name = 'Verdant';
    this.item.command = command;
  }

  render(view: StatusView): void {
    this.item.text = view.text;
    const tooltip = new vscode.MarkdownString(view.lines.join('\n\n'), true);
    tooltip.appendMarkdown('\n\n---\n\nClick for Verdant actions');
    this.item.tooltip = tooltip;
    this.item.accessibilityInformation = {
      label: `Verdant, ${view.severity === 'off' ? 'off' : view.severity === 'warning' ? 'needs attention' : 'on'}`,
    };
    this.item.backgroundColor = view.severity === 'warning' ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
    this.item.show();
  }

  dispose(): void {
    this.item.dispose();
  }
}
