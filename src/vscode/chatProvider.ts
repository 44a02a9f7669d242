// Verdant's local model (and the green-cloud model, when configured and consented) in VS Code's chat model picker,
// through the Language Model Chat Provider API where the running VS Code has it (stable since 1.104; feature-detected
// because Verdant supports 1.100). Cloud requests follow the same rules as palette tasks: trusted workspace, consent,
// secrets redacted.
import * as vscode from 'vscode';
import type { Config } from '../config';
import { hostOf } from '../core/cloud/endpoint';
import { attachedPaths, sensitiveReason } from '../core/cloud/outgoing';
import { cloudBlocked } from '../core/routing/policy';
import type { ChatMessage } from '../engine/types';
import type { CloudConsent } from './cloudConsent';
import { withAbortSignal } from './cancellation';
import type { Router } from './router';
import type { TaskOutcome } from '../core/tasks/calls';
import type { TaskRunner } from '../core/tasks/runner';

export const CHAT_VENDOR = 'verdant';

export interface ChatProviderDeps {
  readonly config: Config;
  /** Runs the model call: the same redaction, ledger record, usage record and Show Last Cloud Request as tasks. */
  readonly runner: Pick<TaskRunner, 'call'>;
  /** Consulted (and logged) for the cloud model: a spent "stop" budget or a cloud the policy blocks refuses it. */
  readonly router: Pick<Router, 'route'>;
  readonly consent: CloudConsent;
  readonly log: vscode.LogOutputChannel;
}

/** The parts of the provider API used here (not in @types/vscode 1.100). */
interface ModelInfo {
  readonly id: string;
  readonly name: string;
  readonly family: string;
  readonly version: string;
  readonly maxInputTokens: number;
  readonly maxOutputTokens: number;
  readonly tooltip?: string;
  readonly capabilities: { readonly toolCalling?: boolean; readonly imageInput?: boolean };
}

export interface RequestMessage {
  readonly role: vscode.LanguageModelChatMessageRole;
  readonly content: readonly unknown[];
}

type RegisterProvider = (vendor: string, provider: unknown) => vscode.Disposable;

/** Chat messages as the engines take them: text parts only (tool calls and images are not supported). */
export function toChatMessages(messages: readonly RequestMessage[]): ChatMessage[] {
  return messages.map(toChatMessage);
}

function toChatMessage(m: RequestMessage): ChatMessage {
  return {
    role: m.role === vscode.LanguageModelChatMessageRole.Assistant ? 'assistant' : 'user',
    content: m.content.map((p) => (p instanceof vscode.LanguageModelTextPart ? p.value : typeof p === 'string' ? p : '')).join(''),
  };
}

/**
 * Answers one chat request on the model the user picked in the chat model picker, through the task runner, so that a
 * chat message costs what it costs on the gauge: one ledger record per request, whose grams the outcome names.
 * The cloud model follows the palette's rules: trusted workspace, no secrets file attached, a budget or policy that
 * allows the cloud, consent.
 */
export function chatResponder(deps: ChatProviderDeps) {
  return async (
    model: 'local' | 'cloud',
    messages: readonly RequestMessage[],
    onText: (text: string) => void,
    signal: AbortSignal,
  ): Promise<TaskOutcome> => {
    const chat = toChatMessages(messages);
    if (model === 'local') return deps.runner.call('local', 'chat', chat, { signal, sink: onText, maxTokens: 1024, reason: 'chosen in the chat' });
    const s = deps.config.settings.cloud;
    if (!vscode.workspace.isTrusted) throw new Error('Verdant sends nothing to the cloud from an untrusted workspace.');
    const secretsFile = chat
      .flatMap((m) => attachedPaths(m.content))
      .map(sensitiveReason)
      .find((r) => r !== undefined);
    if (secretsFile)
      throw new Error(
        `This chat carries ${secretsFile.replace(/ is /, ', which is ')}; Verdant sends no secrets file to the cloud. Remove it from the chat, or choose "Verdant local".`,
      );
    const chars = chat.reduce((n, m) => n + m.content.length, 0);
    // The router reads what the chat asks: the last question typed.
    const question = [...chat].reverse().find((m) => m.role === 'user')?.content ?? '';
    const { decision, entry } = await deps.router.route({
      kind: 'ask',
      promptTokens: Math.ceil(chars / 4),
      files: 0,
      selectionChars: 0,
      consent: 'granted',
      text: question,
    });
    const blocked = cloudBlocked(decision);
    if (blocked) {
      entry.outcome = `chat: cloud refused: ${blocked}`;
      throw new Error(`Verdant cloud cannot take this chat: ${blocked}. Choose "Verdant local" instead.`);
    }
    if (deps.consent.value !== 'granted' && (await deps.consent.ask(hostOf(s.endpoint), 'this chat')) !== 'granted') {
      entry.outcome = 'chat: cloud consent not given';
      throw new Error('Cloud consent was not given for this workspace; choose "Verdant local" instead.');
    }
    const outcome = await deps.runner.call('cloud', 'chat', chat, { signal, sink: onText, maxTokens: 4096, reason: 'chosen in the chat' });
    entry.outcome = 'chat: done (cloud)';
    entry.grams = outcome.grams;
    return outcome;
  };
}

export function registerChatProvider(deps: ChatProviderDeps): vscode.Disposable | undefined {
  const register = (vscode.lm as unknown as { registerLanguageModelChatProvider?: RegisterProvider }).registerLanguageModelChatProvider;
  if (typeof register !== 'function') {
    deps.log.info(`VS Code ${vscode.version} has no language model chat provider API; Verdant's models are not in the chat model picker`);
    return undefined;
  }
  const respond = chatResponder(deps);
  const changed = new vscode.EventEmitter<void>();
  const sub = deps.config.onDidChange(() => changed.fire());
  const provider = {
    onDidChangeLanguageModelChatInformation: changed.event,
    provideLanguageModelChatInformation: async (): Promise<ModelInfo[]> => {
      const s = deps.config.settings;
      const models: ModelInfo[] = [];
      if (s.local.backend !== 'llama.cpp' || s.local.modelPath) {
        models.push({
          id: 'local',
          name: 'Verdant local',
          family: 'verdant-local',
          version: '1',
          maxInputTokens: 3072,
          maxOutputTokens: 1024,
          tooltip: 'Runs on this machine',
          capabilities: {},
        });
      }
      if (s.cloud.enable && s.cloud.endpoint && s.cloud.model && vscode.workspace.isTrusted) {
        models.push({
          id: 'cloud',
          name: `Verdant cloud (${s.cloud.model})`,
          family: 'verdant-cloud',
          version: '1',
          maxInputTokens: 32768,
          maxOutputTokens: 4096,
          tooltip: `Sent to ${hostOf(s.cloud.endpoint)} after consent, secrets redacted`,
          capabilities: {},
        });
      }
      return models;
    },
    provideLanguageModelChatResponse: async (
      model: ModelInfo,
      messages: readonly RequestMessage[],
      _options: unknown,
      progress: vscode.Progress<vscode.LanguageModelTextPart>,
      token: vscode.CancellationToken,
    ): Promise<void> => {
      await withAbortSignal(token, (signal) =>
        respond(model.id === 'cloud' ? 'cloud' : 'local', messages, (t) => progress.report(new vscode.LanguageModelTextPart(t)), signal),
      );
    },
    provideTokenCount: async (_model: ModelInfo, text: string | RequestMessage): Promise<number> => {
      const chars = typeof text === 'string' ? text.length : toChatMessage(text).content.length;
      return Math.ceil(chars / 4);
    },
  };
  const registration = register(CHAT_VENDOR, provider);
  return vscode.Disposable.from(registration, sub, changed);
}
