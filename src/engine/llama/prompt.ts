// Turns a request into the exact token sequence the model sees: FIM with the model's own infill tokens (PSM order,
// or SPM when the model has no middle token), a plain completion, or a chat formatted by the model's chat template.
// The prompt is trimmed to leave room for the answer: the end of the prefix and the start of the suffix are kept,
// since the text nearest the cursor matters most.
import type { GenerateRequest } from '../types';
import { EngineError } from '../errors';
import type { LlamaModel, LlamaModule, Token } from './binding';

export interface Prompt {
  readonly tokens: Token[];
  readonly usedFim: boolean;
  /** Extra stop strings (e.g. a chat template's turn separator). */
  readonly stopTexts: readonly string[];
}

export function fimSupported(model: LlamaModel): boolean {
  return model.tokens.infill.prefix != null && model.tokens.infill.suffix != null;
}

export function buildPrompt(mod: LlamaModule, model: LlamaModel, request: GenerateRequest, contextSize: number): Prompt {
  const budget = contextSize - Math.max(1, request.maxTokens) - 1;
  if (budget < 8) throw new EngineError('bad-request', `maxTokens ${request.maxTokens} leaves no room for a prompt in a ${contextSize}-token context; ask for fewer tokens.`);
  const bos = model.tokens.shouldPrependBosToken && model.tokens.bos != null ? [model.tokens.bos] : [];
  switch (request.kind) {
    case 'fim': {
      const pre = model.tokens.infill.prefix;
      const suf = model.tokens.infill.suffix;
      const mid = model.tokens.infill.middle;
      if (pre == null || suf == null) return completionPrompt(model, bos, request.prefix, budget);
      const prefix = model.tokenize(request.prefix, false, 'trimLeadingSpace');
      const suffix = model.tokenize(request.suffix, false, 'trimLeadingSpace');
      const room = budget - bos.length - (mid != null ? 3 : 2);
      // Prefix gets what the suffix does not need, but the suffix is capped at a quarter of the room.
      const suffixKeep = Math.min(suffix.length, Math.floor(room / 4), Math.max(0, room - prefix.length));
      const prefixKeep = Math.min(prefix.length, room - suffixKeep);
      const p = prefix.slice(prefix.length - prefixKeep);
      const s = suffix.slice(0, suffixKeep);
      const tokens = mid != null ? [...bos, pre, ...p, suf, ...s, mid] : [...bos, suf, ...s, pre, ...p];
      return { tokens, usedFim: true, stopTexts: [] };
    }
    case 'completion':
      return completionPrompt(model, bos, request.prompt, budget);
    case 'chat': {
      const wrapper = mod.resolveChatWrapper(model);
      const history = request.messages.map((m) => m.role === 'assistant'
        ? { type: 'model' as const, response: [m.content] }
        : { type: m.role, text: m.content });
      const { contextText, stopGenerationTriggers } = wrapper.generateContextState({ chatHistory: [...history, { type: 'model', response: [] }] });
      const tokens = contextText.tokenize(model.tokenizer);
      if (tokens.length > budget) {
        throw new EngineError('bad-request', `The conversation is ${tokens.length} tokens, more than the ${budget} that fit with the answer; shorten it or start a new one.`);
      }
      // Text-only triggers (e.g. "\n\n### Human:") become stop strings; special-token triggers end as EOG tokens.
      const stopTexts = stopGenerationTriggers
        .map((t) => t.values.every((v) => typeof v === 'string') ? t.values.join('') : '')
        .filter((t) => t.length > 0);
      return { tokens, usedFim: false, stopTexts };
    }
  }
}

function completionPrompt(model: LlamaModel, bos: Token[], text: string, budget: number): Prompt {
  const tokens = model.tokenize(text, false);
  const keep = Math.max(0, budget - bos.length);
  return { tokens: [...bos, ...tokens.slice(Math.max(0, tokens.length - keep))], usedFim: false, stopTexts: [] };
}
