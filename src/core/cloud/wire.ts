// The OpenAI chat-completions wire format: the request body, and what we read from a streamed chunk or a whole
// (non-streaming) answer. Untrusted JSON is read field by field; anything missing is simply absent.
import { asArray, asNumber, asObject, asString, type JsonObject } from '../net/json';
import type { ChatMessage } from '../inference/types';

export interface CloudChatRequest {
  readonly messages: readonly ChatMessage[];
  readonly maxTokens: number;
  readonly temperature?: number;
  readonly stop?: readonly string[];
  /** Stream the answer (default true); falls back to one JSON answer when the server will not stream. */
  readonly stream?: boolean;
}

export interface ServerUsage {
  readonly promptTokens: number;
  readonly completionTokens: number;
}

/** What one streamed chunk or a whole answer says; fields are undefined when absent. */
export interface WirePiece {
  readonly text: string;
  readonly finishReason?: string;
  readonly model?: string;
  readonly usage?: ServerUsage;
}

export function chatBody(model: string, req: CloudChatRequest, stream: boolean): Record<string, unknown> {
  const body: Record<string, unknown> = {
    model,
    messages: req.messages.map((m) => ({ role: m.role, content: m.content })),
    max_tokens: req.maxTokens,
    stream,
  };
  // Without include_usage the stream carries no token counts and we would have to estimate them.
  if (stream) body.stream_options = { include_usage: true };
  if (req.temperature !== undefined) body.temperature = req.temperature;
  if (req.stop && req.stop.length > 0) body.stop = [...req.stop];
  return body;
}

function usageOf(v: unknown): ServerUsage | undefined {
  const u = asObject(v);
  const promptTokens = asNumber(u?.prompt_tokens);
  const completionTokens = asNumber(u?.completion_tokens);
  return promptTokens === undefined || completionTokens === undefined ? undefined : { promptTokens, completionTokens };
}

function common(o: JsonObject, text: string, choice: JsonObject | undefined): WirePiece {
  const finish = asString(choice?.finish_reason);
  const model = asString(o.model);
  const usage = usageOf(o.usage);
  return {
    text,
    ...(finish !== '' ? { finishReason: finish } : {}),
    ...(model !== '' ? { model } : {}),
    ...(usage ? { usage } : {}),
  };
}

/** A streamed chunk: `choices[0].delta.content`; the last chunk (empty choices) carries `usage`. */
export function readChunk(o: JsonObject): WirePiece {
  const choice = asObject(asArray(o.choices)[0]);
  return common(o, asString(asObject(choice?.delta)?.content), choice);
}

/** A whole answer: `choices[0].message.content` + `usage`; undefined when it is not a chat completion. */
export function readCompletion(o: JsonObject): WirePiece | undefined {
  const choice = asObject(asArray(o.choices)[0]);
  const message = asObject(choice?.message);
  if (!message) return undefined;
  return common(o, asString(message.content), choice);
}

/** Token estimate when the server reports none: ~4 characters per token for English text and code. */
export function estimateTokens(chars: number): number {
  return Math.ceil(chars / 4);
}
