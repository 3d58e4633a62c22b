/**
 * The model gateway: the Anthropic Messages API, answered with Claude on Bedrock for one user, so
 * the user's container holds no AWS credential. Bedrock's InvokeModel(WithResponseStream) takes the
 * Messages body for Claude as it is (plus `anthropic_version`, minus `model` and `stream`) and
 * streams Anthropic's own events back, so tools, `tool_use`/`tool_result`, images, `cache_control`,
 * `stop_reason` and `usage` pass through untouched, and no mapping (as Converse would need) can
 * drift from what the container's client sends. Unknown fields pass through too: Bedrock judges them.
 *
 * The budget is checked before each call and every call's usage is recorded (`via: "container"`).
 * Calls are not turns: they never wait in the chat queue, so a container answering a turn can call
 * the model as often as it needs while that turn runs.
 */
import { InvokeModelCommand, InvokeModelWithResponseStreamCommand } from "@aws-sdk/client-bedrock-runtime";
import { HttpError } from "../errors.ts";
import type { ObjectContext } from "../object-context.ts";
import { ZERO_USAGE, assertWithinBudget, costUsd, dailyBudget, recordUsage, type Usage } from "../usage.ts";
import { anthropicErrorBody, anthropicErrorType, sseEvent } from "./anthropic-wire.ts";

/** Bedrock's version string for the Claude Messages body. */
export const BEDROCK_ANTHROPIC_VERSION = "bedrock-2023-05-31";
/** Bedrock's request payload limit. */
export const MAX_GATEWAY_BODY_BYTES = 20 * 1024 * 1024;

export type GatewayAnswer = { kind: "stream"; stream: ReadableStream<Uint8Array> } | { kind: "json"; body: unknown };

type Json = Record<string, unknown>;

export class ModelGateway {
  constructor(private readonly ctx: ObjectContext) {}

  async call(request: unknown, options: { beta?: string | null; signal?: AbortSignal } = {}): Promise<GatewayAnswer> {
    const { body, stream } = toBedrockBody(request, options.beta);
    assertWithinBudget(this.ctx.sql, dailyBudget(this.ctx.owner().tier, this.ctx.config));
    const payload = new TextEncoder().encode(JSON.stringify(body));
    const target = { modelId: this.ctx.config.bedrockModelId, body: payload, contentType: "application/json", accept: "application/json" };
    const client = this.ctx.bedrock();
    if (!stream) {
      const response = await client.send(new InvokeModelCommand(target), { abortSignal: options.signal }).catch((error: unknown) => {
        throw gatewayError(error);
      });
      const message = JSON.parse(new TextDecoder().decode(response.body)) as Json;
      this.record(usageOf(message.usage));
      return { kind: "json", body: message };
    }
    const response = await client.send(new InvokeModelWithResponseStreamCommand(target), { abortSignal: options.signal }).catch((error: unknown) => {
      throw gatewayError(error);
    });
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
    void this.relay(response.body ?? emptyStream(), writable.getWriter());
    return { kind: "stream", stream: readable };
  }

  /** Re-sends Bedrock's chunks as Anthropic SSE events and records the usage they report. */
  private async relay(chunks: AsyncIterable<{ chunk?: { bytes?: Uint8Array } }>, writer: WritableStreamDefaultWriter<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let usage: Usage = { ...ZERO_USAGE };
    let open = true;
    const write = async (bytes: Uint8Array) => {
      if (!open) return;
      // A container that hung up must not stop the accounting: keep reading, stop writing.
      await writer.write(bytes).catch(() => {
        open = false;
      });
    };
    try {
      for await (const item of chunks) {
        if (!item.chunk?.bytes) continue;
        const event = JSON.parse(decoder.decode(item.chunk.bytes)) as Json & { type: string };
        if (event.type === "message_start") usage = usageOf((event.message as Json | undefined)?.usage);
        if (event.type === "message_delta") usage = { ...usage, outputTokens: Number((event.usage as Json | undefined)?.output_tokens ?? usage.outputTokens) };
        // Bedrock's own metrics are not part of Anthropic's protocol.
        if (event.type === "message_stop") delete event["amazon-bedrock-invocationMetrics"];
        await write(sseEvent(event));
      }
    } catch (error) {
      const described = gatewayError(error);
      await write(sseEvent(anthropicErrorBody(anthropicErrorType(described.status), described.message)));
    } finally {
      this.record(usage);
      if (open) await writer.close().catch(() => {});
    }
  }

  /** One call's usage: today's budget (via container), then the turn it belongs to, if one runs. */
  private record(usage: Usage): void {
    recordUsage(this.ctx.sql, usage, costUsd(usage, this.ctx.config.prices), { via: "container" });
    void this.ctx.events.emit("containerUsage", usage);
  }
}

/** The Bedrock body for a Messages request, and whether it asked to stream. */
export function toBedrockBody(request: unknown, beta?: string | null): { body: Json; stream: boolean } {
  if (typeof request !== "object" || request === null || Array.isArray(request)) throw new HttpError(400, "invalid_request", "The body must be a JSON object (the Anthropic Messages API).");
  const { model: _model, stream, ...rest } = request as Json;
  if (!Array.isArray(rest.messages) || rest.messages.length === 0) throw new HttpError(400, "invalid_request", "messages: at least one message is required.");
  if (!Number.isInteger(rest.max_tokens) || (rest.max_tokens as number) < 1) throw new HttpError(400, "invalid_request", "max_tokens: a whole number of at least 1 is required.");
  if (stream !== undefined && typeof stream !== "boolean") throw new HttpError(400, "invalid_request", "stream must be true or false.");
  const body: Json = { anthropic_version: BEDROCK_ANTHROPIC_VERSION, ...rest, messages: mergeConsecutiveTurns(rest.messages as unknown[]) };
  const betas = (beta ?? "").split(",").map((b) => b.trim()).filter(Boolean);
  if (betas.length && body.anthropic_beta === undefined) body.anthropic_beta = betas;
  return { body, stream: stream === true };
}

/**
 * Consecutive messages of one role joined into one turn, as Anthropic's Messages API does ("Consecutive
 * user or assistant turns in your request will be combined into a single turn"); Bedrock's Claude
 * endpoint refuses them instead ("roles must alternate"). OpenClaw sends two user messages in a row
 * on a fresh session's first call. Blocks keep their order and their cache_control; a message whose
 * content is neither a string nor a list of blocks is left as it is, for Bedrock to judge.
 */
export function mergeConsecutiveTurns(messages: unknown[]): unknown[] {
  const blocks = (content: unknown): unknown[] | null => {
    if (typeof content === "string") return content === "" ? [] : [{ type: "text", text: content }];
    return Array.isArray(content) ? content : null;
  };
  const out: unknown[] = [];
  for (const message of messages) {
    const previous = out.at(-1) as Json | undefined;
    const m = message as Json;
    const mergeable = (x: Json | undefined): x is Json => typeof x === "object" && x !== null && !Array.isArray(x) && typeof x.role === "string" && blocks(x.content) !== null;
    if (mergeable(previous) && mergeable(m) && previous.role === m.role) {
      out[out.length - 1] = { ...previous, content: [...blocks(previous.content)!, ...blocks(m.content)!] };
    } else {
      out.push(message);
    }
  }
  return out;
}

function usageOf(value: unknown): Usage {
  const u = (typeof value === "object" && value !== null ? value : {}) as Json;
  const n = (key: string) => (typeof u[key] === "number" ? (u[key] as number) : 0);
  return { inputTokens: n("input_tokens"), outputTokens: n("output_tokens"), cacheReadTokens: n("cache_read_input_tokens"), cacheWriteTokens: n("cache_creation_input_tokens"), images: 0 };
}

/** Bedrock's failure as the status and message the container's client should see (never a secret). */
export function gatewayError(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  const name = (error as { name?: string })?.name ?? "Error";
  const message = String((error as { message?: string })?.message ?? "").slice(0, 500);
  switch (name) {
    case "ValidationException":
      return new HttpError(400, "invalid_request", message || "Bedrock refused the request.");
    case "ThrottlingException":
      return new HttpError(429, "rate_limited", "The model is receiving too many requests. Retry in a few seconds.", { "retry-after": "5" });
    case "ServiceUnavailableException":
    case "ModelNotReadyException":
    case "InternalServerException":
    case "ModelStreamErrorException":
    case "ModelErrorException":
      return new HttpError(529, "overloaded", "The model is overloaded or failed. Retry in a moment.");
    case "ModelTimeoutException":
    case "TimeoutError":
      return new HttpError(504, "model_timeout", "The model took too long to answer.");
    case "AccessDeniedException":
      return new HttpError(502, "model_unavailable", "The model service refused the operator's credentials; the operator has been told.");
    default:
      return new HttpError(502, "model_unavailable", `The model service failed (${name}).`);
  }
}

async function* emptyStream(): AsyncGenerator<{ chunk?: { bytes?: Uint8Array } }> {}
