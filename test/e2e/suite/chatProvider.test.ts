// Verdant as a language model chat provider: the message conversion on real VS Code message objects. (The provider
// API itself is VS Code 1.104+; code-server 1.100 has none, so registration cannot be exercised here.)
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { toChatMessages } from '../../../src/vscode/chatProvider';

describe('language model chat provider', () => {
  it('turns VS Code chat messages into engine chat messages (text parts only)', () => {
    const messages = [
      vscode.LanguageModelChatMessage.User([new vscode.LanguageModelTextPart('Explain '), new vscode.LanguageModelTextPart('this.')]),
      vscode.LanguageModelChatMessage.Assistant('It adds two numbers.'),
    ];
    assert.deepEqual(toChatMessages(messages), [
      { role: 'user', content: 'Explain this.' },
      { role: 'assistant', content: 'It adds two numbers.' },
    ]);
  });
});
