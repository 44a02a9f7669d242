// Verdant's local model (and the green-cloud model, when configured and consented) in VS Code's chat model picker,
// through the Language Model Chat Provider API where the running VS Code has it (stable since 1.104; feature-detected
// because Verdant supports 1.100). Cloud requests follow the same rules as palette tasks: trusted workspace, consent,
// secrets redacted.
import * as vscode from 'vscode';
import type { Config } from '../config';
import { attachedPaths, sensitiveReason } from '../core/cloud/outgoing';
import { redactSecrets } from '../core/cloud/redact';
import type { ChatMessage } from '../engine/types';
import type { CloudConsent } from './cloudConsent';
import type { LocalEngine } from './localEngine';
import type { EngineHttpModule } from './engineHttp';
import type { CloudKeyStore } from './secrets';

export const CHAT_VENDOR = 'verdant';

export interface ChatProviderDeps {
  readonly config: Config;
  readonly engine: LocalEngine;
  readonly keys: CloudKeyStore;
  readonly consent: CloudConsent;
  readonly log: vscode.LogOutputChannel;
  readonly engineHttp: () => EngineHttpModule;
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

interface RequestMessage {
  readonly role: vscode.LanguageModelChatMessageRole;
  readonly content: readonly unknown[];
}

type RegisterProvider = (vendor: string, provider: unknown) => vscode.Disposable;

/** Chat messages as the engines take them: text parts only (tool calls and images are not supported). */
export function toChatMessages(messages: readonly RequestMessage[]): ChatMessage[] {
  return messages.map((m) => ({
    role: m.role === vscode.LanguageModelChatMessageRole.Assistant ? 'assistant' : 'user',
    content: m.content.map((p) => (p instanceof vscode.LanguageModelTextPart ? p.value : typeof p === 'string' ? p : '')).join(''),
  }));
}

export function registerChatProvider(deps: ChatProviderDeps): vscode.Disposable | undefined {
  const register = (vscode.lm as unknown as { registerLanguageModelChatProvider?: RegisterProvider }).registerLanguageModelChatProvider;
  if (typeof register !== 'function') {
    deps.log.info(`VS Code ${vscode.version} has no language model chat provider API; Verdant's models are not in the chat model picker`);
    return undefined;
  }
  const changed = new vscode.EventEmitter<void>();
  const sub = deps.config.onDidChange(() => changed.fire());
  const provider = {
    onDidChangeLanguageModelChatInformation: changed.event,
    provideLanguageModelChatInformation: async (): Promise<ModelInfo[]> => {
      const s = deps.config.settings;
      const models: ModelInfo[] = [];
      if (s.local.backend !== 'llama.cpp' || s.local.modelPath) {
        models.push({ id: 'local', name: 'Verdant local', family: 'verdant-local', version: '1', maxInputTokens: 3072, maxOutputTokens: 1024, tooltip: 'Runs on this machine', capabilities: {} });
      }
      if (s.cloud.enable && s.cloud.endpoint && s.cloud.model && vscode.workspace.isTrusted) {
        models.push({ id: 'cloud', name: `Verdant cloud (${s.cloud.model})`, family: 'verdant-cloud', version: '1', maxInputTokens: 32768, maxOutputTokens: 4096, tooltip: `Sent to ${new URL(s.cloud.endpoint).host} after consent, secrets redacted`, capabilities: {} });
      }
      return models;
    },
    provideLanguageModelChatResponse: async (model: ModelInfo, messages: readonly RequestMessage[], _options: unknown, progress: vscode.Progress<vscode.LanguageModelTextPart>, token: vscode.CancellationToken): Promise<void> => {
      const ac = new AbortController();
      token.onCancellationRequested(() => ac.abort());
      const chat = toChatMessages(messages);
      const onText = (t: string) => progress.report(new vscode.LanguageModelTextPart(t));
      if (model.id === 'local') {
        await deps.engine.generate({ kind: 'chat', messages: chat, maxTokens: 1024 }, { signal: ac.signal, onText });
        return;
      }
      const s = deps.config.settings.cloud;
      if (!vscode.workspace.isTrusted) throw new Error('Verdant sends nothing to the cloud from an untrusted workspace.');
      const secretsFile = chat.flatMap((m) => attachedPaths(m.content)).map(sensitiveReason).find((r) => r !== undefined);
      if (secretsFile) throw new Error(`This chat carries ${secretsFile.replace(/ is /, ', which is ')}; Verdant sends no secrets file to the cloud. Remove it from the chat, or choose "Verdant local".`);
      if (deps.consent.value !== 'granted' && (await deps.consent.ask(new URL(s.endpoint).host, 'this chat')) !== 'granted') {
        throw new Error('Cloud consent was not given for this workspace; choose "Verdant local" instead.');
      }
      const { CloudClient } = deps.engineHttp();
      const client = new CloudClient({ baseUrl: s.endpoint, model: s.model, apiKey: () => deps.keys.get(), proxyUrl: vscode.workspace.getConfiguration('http').get<string>('proxy') || undefined, timeouts: { deadlineMs: s.requestTimeoutSeconds * 1000 } });
      try {
        await client.chat({ messages: chat.map((m) => ({ ...m, content: redactSecrets(m.content).text })), maxTokens: 4096 }, { signal: ac.signal, onText });
      } finally {
        client.close();
      }
    },
    provideTokenCount: async (_model: ModelInfo, text: string | RequestMessage): Promise<number> => {
      const chars = typeof text === 'string' ? text.length : toChatMessages([text])[0].content.length;
      return Math.ceil(chars / 4);
    },
  };
  const registration = register(CHAT_VENDOR, provider);
  return vscode.Disposable.from(registration, sub, changed);
}
