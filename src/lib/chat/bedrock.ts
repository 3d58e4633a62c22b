/**
 * Claude on Bedrock through the AWS SDK's ConverseStream: explicit region, credentials (SigV4 keys or
 * a Bedrock API key as bearer token) and endpoint, since workerd has no credential chain. Throttled
 * or overloaded calls are retried with backoff, then sent to the fallback model; a failure after text
 * has streamed is not retried (that would say things twice): the caller keeps what arrived.
 */
import {
  BedrockRuntimeClient,
  ConverseStreamCommand,
  InvokeModelCommand,
  type Message,
  type SystemContentBlock,
  type Tool,
  type ToolUseBlock,
  type ConverseStreamOutput,
} from "@aws-sdk/client-bedrock-runtime";
import { AppError, HttpError, UnreachableError, UpstreamError } from "../errors.ts";
import { backoffDelay } from "../backoff.ts";
import type { Config } from "../config.ts";
import { ZERO_USAGE, type Usage } from "../usage.ts";

export interface TurnResult {
  text: string;
  toolUses: ToolUseBlock[];
  stopReason: string;
  usage: Usage;
  modelId: string;
}

/** Thrown when the stream broke after some text was delivered: the text is kept, not retried. */
export class StreamInterruptedError extends AppError {
  override readonly name = "StreamInterruptedError";
  constructor(
    readonly partial: TurnResult,
    options: { cause: unknown },
  ) {
    super("The model's reply was interrupted.", options);
  }
}

const RETRYABLE = new Set([
  "ThrottlingException",
  "ServiceUnavailableException",
  "ModelNotReadyException",
  "InternalServerException",
  "ModelStreamErrorException",
  "ModelTimeoutException",
]);

/** `onCall` runs once per HTTP call (retries are ours, so one send is one call). */
export function createBedrockClient(env: Env, config: Config, onCall?: () => void): BedrockRuntimeClient {
  const base = { region: config.awsRegion, endpoint: config.bedrockEndpoint, maxAttempts: 1 };
  let client: BedrockRuntimeClient;
  if (env.AWS_BEARER_TOKEN_BEDROCK) {
    client = new BedrockRuntimeClient({ ...base, token: { token: env.AWS_BEARER_TOKEN_BEDROCK }, authSchemePreference: ["httpBearerAuth"] });
  } else if (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) {
    client = new BedrockRuntimeClient({ ...base, credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY } });
  } else {
    throw new HttpError(503, "not_configured", "Chat is not configured: an operator must set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_BEARER_TOKEN_BEDROCK.");
  }
  if (onCall) {
    client.middlewareStack.add((next) => (args) => {
      onCall();
      return next(args);
    }, { step: "build", name: "soulprintCountCalls" });
  }
  return client;
}

export interface TurnRequest {
  system: SystemContentBlock[];
  messages: Message[];
  tools: Tool[];
  maxTokens: number;
}


/** One model turn, streamed: `onText` gets each piece as it arrives. */
export async function streamTurn(
  client: BedrockRuntimeClient,
  config: Config,
  request: TurnRequest,
  onText: (piece: string) => void,
  signal: AbortSignal,
): Promise<TurnResult> {
  const models = [config.bedrockModelId, config.bedrockFallbackModelId].filter((m, i, all) => m && all.indexOf(m) === i);
  const retry = config.bedrockRetry;
  let lastError: unknown;
  for (const modelId of models) {
    for (let attempt = 0; attempt < retry.attemptsPerModel; attempt++) {
      if (attempt > 0) await sleep(backoffDelay(attempt - 1, { baseMs: retry.baseDelayMs, capMs: Number.MAX_SAFE_INTEGER }), signal);
      try {
        return await streamOnce(client, modelId, request, onText, signal, retry.stallTimeoutMs);
      } catch (error) {
        if (error instanceof StreamInterruptedError || signal.aborted) throw error;
        if (!isRetryable(error)) {
          // Unknown failures are told to the person only by name; the line keeps what Bedrock said.
          console.warn(JSON.stringify({ event: "bedrock_error", modelId, name: (error as Error)?.name, message: String((error as Error)?.message ?? "").slice(0, 200) }));
          throw describeBedrockError(error);
        }
        lastError = error;
      }
    }
  }
  throw describeBedrockError(lastError);
}

async function streamOnce(client: BedrockRuntimeClient, modelId: string, request: TurnRequest, onText: (piece: string) => void, signal: AbortSignal, stallTimeoutMs: number): Promise<TurnResult> {
  const result: TurnResult = { text: "", toolUses: [], stopReason: "end_turn", usage: { ...ZERO_USAGE }, modelId };
  const command = new ConverseStreamCommand({
    modelId,
    system: request.system,
    messages: request.messages,
    toolConfig: request.tools.length ? { tools: request.tools } : undefined,
    inferenceConfig: { maxTokens: request.maxTokens },
  });
  // Turns run one at a time, so a call that never answers would hold every later message: a
  // watchdog bounds the wait for each event, and every wait also ends at once on cancel (the SDK's
  // abortSignal alone does not end a wait for headers or for the next event inside workerd).
  const stall = new AbortController();
  const stop = AbortSignal.any([signal, stall.signal]);
  let watchdog: ReturnType<typeof setTimeout> | null = null;
  const rearm = () => {
    if (watchdog) clearTimeout(watchdog);
    watchdog = setTimeout(() => stall.abort(new DOMException(`Bedrock sent nothing for ${stallTimeoutMs} ms.`, "TimeoutError")), stallTimeoutMs);
  };
  const toolInputs = new Map<number, { toolUseId: string; name: string; json: string }>();
  try {
    rearm();
    const response = await untilAborted(client.send(command, { abortSignal: stop }), stop);
    const events: AsyncIterator<ConverseStreamOutput> = response.stream ? response.stream[Symbol.asyncIterator]() : emptyStream();
    try {
      for (;;) {
        const next = await untilAborted(events.next(), stop);
        if (next.done) break;
        rearm();
        const event = next.value;
        if (event.contentBlockDelta) {
          const { delta, contentBlockIndex = 0 } = event.contentBlockDelta;
          if (delta?.text) {
            result.text += delta.text;
            onText(delta.text);
          } else if (delta?.toolUse?.input !== undefined) {
            const tool = toolInputs.get(contentBlockIndex);
            if (tool) tool.json += delta.toolUse.input;
          }
        } else if (event.contentBlockStart?.start?.toolUse) {
          const { toolUseId = "", name = "" } = event.contentBlockStart.start.toolUse;
          toolInputs.set(event.contentBlockStart.contentBlockIndex ?? 0, { toolUseId, name, json: "" });
        } else if (event.messageStop) {
          result.stopReason = event.messageStop.stopReason ?? "end_turn";
        } else if (event.metadata?.usage) {
          const u = event.metadata.usage;
          result.usage = {
            inputTokens: u.inputTokens ?? 0,
            outputTokens: u.outputTokens ?? 0,
            cacheReadTokens: u.cacheReadInputTokens ?? 0,
            cacheWriteTokens: u.cacheWriteInputTokens ?? 0,
            images: 0,
          };
        }
      }
    } finally {
      if (stop.aborted) void events.return?.().catch(() => {});
    }
  } catch (error) {
    if (signal.aborted) throw error;
    // Once text has been shown, a retry would repeat it: hand back what we have instead.
    if (result.text.length > 0) throw new StreamInterruptedError(result, { cause: error });
    throw error;
  } finally {
    if (watchdog) clearTimeout(watchdog);
  }
  for (const tool of toolInputs.values()) {
    let input: unknown = {};
    try {
      input = tool.json ? JSON.parse(tool.json) : {};
    } catch {
      input = { _unparsable: tool.json };
    }
    result.toolUses.push({ toolUseId: tool.toolUseId, name: tool.name, input: input as ToolUseBlock["input"] });
  }
  return result;
}

async function* emptyStream(): AsyncGenerator<ConverseStreamOutput> {}

/** `promise`, or a rejection with the signal's reason as soon as it aborts. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  promise.catch(() => {}); // it may still reject after we stopped waiting
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/** Text to image (Nova Canvas / Titan request shape): returns PNG bytes. */
export async function generateImage(client: BedrockRuntimeClient, config: Config, prompt: string, signal: AbortSignal): Promise<Uint8Array> {
  const body = JSON.stringify({
    taskType: "TEXT_IMAGE",
    textToImageParams: { text: prompt.slice(0, 1024) },
    imageGenerationConfig: { numberOfImages: 1, quality: "standard", width: 1024, height: 1024, cfgScale: 6.5 },
  });
  try {
    const response = await client.send(
      new InvokeModelCommand({ modelId: config.bedrockImageModelId, body: new TextEncoder().encode(body), contentType: "application/json", accept: "application/json" }),
      { abortSignal: signal },
    );
    const parsed = JSON.parse(new TextDecoder().decode(response.body)) as { images?: string[]; error?: string };
    const image = parsed.images?.[0];
    if (!image) throw new UpstreamError("bedrock", 502, "no_image", parsed.error ?? "The image model returned no image.");
    const binary = atob(image);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  } catch (error) {
    throw describeBedrockError(error);
  }
}

export function isRetryable(error: unknown): boolean {
  const name = (error as { name?: string })?.name ?? "";
  const status = (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
  return RETRYABLE.has(name) || status === 429 || (status !== undefined && status >= 500);
}

/** Maps SDK errors to ours: never a bare 500 for an upstream fault, and never the request's secrets. */
export function describeBedrockError(error: unknown): Error {
  if (error instanceof HttpError || error instanceof UpstreamError || error instanceof UnreachableError) return error;
  const name = (error as { name?: string })?.name ?? "Error";
  const message = String((error as { message?: string })?.message ?? "").slice(0, 200);
  const status = (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode ?? (RETRYABLE.has(name) ? 503 : 502);
  if (name === "ValidationException") return new UpstreamError("bedrock", 400, "validation", `Bedrock rejected the request: ${message}`, { cause: error });
  if (name === "AccessDeniedException") return new UpstreamError("bedrock", 403, "access_denied", "Bedrock refused our credentials; an operator must check the AWS keys and model access.", { cause: error });
  if (RETRYABLE.has(name)) return new UpstreamError("bedrock", 503, "overloaded", "The model is busy right now.", { cause: error });
  if (name === "TypeError" || name === "TimeoutError") return new UnreachableError("bedrock", "Bedrock could not be reached.", name === "TimeoutError", { cause: error });
  return new UpstreamError("bedrock", status, name, `Bedrock failed (${name}).`, { cause: error });
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}
