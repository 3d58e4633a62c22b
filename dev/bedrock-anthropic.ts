/**
 * The Bedrock stand-in's Claude path: InvokeModel and InvokeModelWithResponseStream with Claude's
 * native Messages body (`anthropic_version: "bedrock-2023-05-31"`, judged by dev/anthropic-rules.ts
 * before we get here). What Bedrock sends back, and so what we send:
 *
 * - invoke-with-response-stream: HTTP 200, `application/vnd.amazon.eventstream`, one frame per
 *   Anthropic SSE event, `:event-type: chunk`, payload `{"bytes": base64(event JSON)}` (plus Bedrock's
 *   random `"p"` padding). Events in Anthropic's order: message_start, content_block_start /
 *   content_block_delta (text_delta | input_json_delta) / content_block_stop per block,
 *   message_delta, message_stop carrying `amazon-bedrock-invocationMetrics`. A mid-stream failure
 *   is an exception frame (`:message-type: exception`), after which nothing follows.
 * - invoke: HTTP 200 with the Anthropic message JSON, and Bedrock's token-count headers.
 *
 * Usage is Anthropic's: input_tokens excludes cache_read_input_tokens and
 * cache_creation_input_tokens. The cache itself is the stand-in's one model (bedrock-standin.ts
 * promptUsage); this module only turns `cache_control` markers into prefix ends.
 */
import { randomBytes, randomUUID } from "node:crypto";
import type { ServerResponse } from "node:http";
import { awsError, frame, hangUntilClosed, MARKER, split, streamText, STREAM_EXCEPTIONS, tokens, type Obj, type Plan, type PromptUnit, type PromptUsage, type StreamExceptionName } from "./bedrock-wire.ts";
import { isObject, sendJson, sleep } from "./standin-util.ts";

/** One Claude call, as planned by the stand-in (reply plan and prompt-cache accounting done). */
export interface NativeCall { res: ServerResponse; plan: Plan; modelId: string; started: number; prompt: PromptUsage }

const B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const b62 = (n: number) => Array.from(randomBytes(n), (b) => B62[b % 62]).join("");
/** Bedrock's Claude ids carry a `bdrk` tag: `msg_bdrk_01…`, `toolu_bdrk_01…`. */
const messageId = () => `msg_bdrk_01${b62(24)}`;
const toolUseId = () => `toolu_bdrk_01${b62(22)}`;

/** `global.anthropic.claude-opus-4-6-v1` → `claude-opus-4-6`: the `model` Claude reports on Bedrock. */
export function claudeModelName(modelId: string): string {
  return modelId.replace(/^(global|us|eu|jp|apac|au)\./, "").replace(/^anthropic\./, "").replace(/-v\d+(:\d+)?$/, "");
}

/** Content of one message or of `system` as blocks (a string is one text block). */
function blocksOf(content: unknown): Obj[] {
  if (typeof content === "string") return [{ type: "text", text: content }];
  return Array.isArray(content) ? content.filter(isObject) : [];
}

/** Every text a scenario marker may hide in: system, then each message's text. */
export function anthropicTexts(body: Obj): string[] {
  const texts: string[] = [];
  for (const b of blocksOf(body.system)) if (typeof b.text === "string") texts.push(b.text);
  for (const m of (Array.isArray(body.messages) ? body.messages : []).filter(isObject))
    for (const b of blocksOf(m.content)) if (typeof b.text === "string") texts.push(b.text);
  return texts;
}

/** What the default reply echoes: the last user message's text, without the marker. */
export function anthropicUserSaid(body: Obj): string {
  const msgs = (Array.isArray(body.messages) ? body.messages : []).filter(isObject);
  const blocks = blocksOf([...msgs].reverse().find((m) => m.role === "user")?.content);
  const text = blocks.filter((b) => b.type === "text" && typeof b.text === "string").map((b) => b.text as string).join(" ").replace(MARKER, "").trim();
  if (text) return `You said: ${text.length > 300 ? text.slice(0, 300) + "…" : text}`;
  if (blocks.some((b) => b.type === "tool_result")) return "Thanks, I got the tool result.";
  return "Hello!";
}

/**
 * Prompt units in Anthropic's cache order (tools → system → messages). A block with
 * `cache_control` ends a cached prefix that includes the block itself. The marker is left out of
 * a unit's identity, so moving it to a later block (what a client does each turn) keeps the
 * earlier prefix's hash, and the second turn reads what the first wrote.
 */
export function anthropicUnits(body: Obj): PromptUnit[] {
  const units: PromptUnit[] = [];
  const add = (where: string, block: Obj) => {
    const { cache_control: marker, ...rest } = block;
    let chars: number;
    if (rest.type === "text" && typeof rest.text === "string") chars = rest.text.length;
    else if (rest.type === "image" || rest.type === "document") chars = 4 * 1_000; // flat 1,000 tokens per media block, as on Converse
    else chars = JSON.stringify(rest).length;
    units.push({ id: `${where}:${JSON.stringify(rest)}`, chars });
    if (isObject(marker)) units.push({ id: where, chars: 0, cachePoint: marker });
  };
  for (const t of (Array.isArray(body.tools) ? body.tools : []).filter(isObject)) add("tools", t);
  for (const b of blocksOf(body.system)) add("system", b);
  for (const [i, m] of (Array.isArray(body.messages) ? body.messages : []).filter(isObject).entries())
    for (const b of blocksOf(m.content)) add(`m${i}:${String(m.role)}`, b);
  return units;
}

function usageOf(prompt: PromptUsage, outputTokens: number): Obj {
  return {
    input_tokens: prompt.input, cache_creation_input_tokens: prompt.write,
    cache_read_input_tokens: prompt.read, output_tokens: outputTokens,
  };
}

/** InvokeModelWithResponseStream: Anthropic's SSE events, each wrapped in one `chunk` frame. */
export async function anthropicStream({ res, plan: p, modelId, started, prompt }: NativeCall): Promise<void> {
  res.writeHead(200, {
    "content-type": "application/vnd.amazon.eventstream",
    "x-amzn-requestid": randomUUID(),
    "x-amzn-bedrock-content-type": "application/json",
  });
  res.flushHeaders();
  const alive = () => !res.destroyed && !res.writableEnded;
  const chunk = (event: Obj) => alive() && res.write(frame("chunk", { bytes: Buffer.from(JSON.stringify(event)).toString("base64") }));
  let outChars = 0, index = 0, firstByte: number | undefined;
  chunk({
    type: "message_start",
    message: {
      id: messageId(), type: "message", role: "assistant", model: claudeModelName(modelId), content: [],
      stop_reason: null, stop_sequence: null, usage: usageOf(prompt, 1),
    },
  });
  const sent = await streamText(res, p, {
    open: () => chunk({ type: "content_block_start", index, content_block: { type: "text", text: "" } }),
    piece: (text) => {
      firstByte ??= Date.now() - started;
      chunk({ type: "content_block_delta", index, delta: { type: "text_delta", text } });
    },
    close: () => chunk({ type: "content_block_stop", index: index++ }),
  });
  if (sent === null) return;
  outChars += sent;
  for (const t of p.toolUses) {
    const name = t.name;
    chunk({ type: "content_block_start", index, content_block: { type: "tool_use", id: t.toolUseId ?? toolUseId(), name, input: {} } });
    // Claude opens every tool_use block with an empty partial_json before the real pieces.
    chunk({ type: "content_block_delta", index, delta: { type: "input_json_delta", partial_json: "" } });
    const json = JSON.stringify(t.input ?? {});
    outChars += json.length + name.length;
    for (const part of split(json, 3)) {
      await sleep(p.delayMs);
      firstByte ??= Date.now() - started;
      chunk({ type: "content_block_delta", index, delta: { type: "input_json_delta", partial_json: part } });
    }
    chunk({ type: "content_block_stop", index: index++ });
  }
  const output = Math.max(1, tokens(outChars));
  chunk({ type: "message_delta", delta: { stop_reason: p.stopReason, stop_sequence: null }, usage: { output_tokens: output } });
  const latency = Date.now() - started;
  chunk({
    type: "message_stop",
    "amazon-bedrock-invocationMetrics": {
      inputTokenCount: prompt.input, outputTokenCount: output, invocationLatency: latency,
      firstByteLatency: firstByte ?? latency, cacheReadInputTokenCount: prompt.read, cacheWriteInputTokenCount: prompt.write,
    },
  });
  res.end();
}

/** InvokeModel: the whole Anthropic message as JSON; failures are plain HTTP errors. */
export async function anthropicInvoke({ res, plan: p, modelId, started, prompt }: NativeCall): Promise<void> {
  if (p.fault === "hang") return hangUntilClosed(res);
  if (p.fault) {
    const [status, type, msg] = STREAM_EXCEPTIONS[p.fault as StreamExceptionName];
    return awsError(res, status, type, p.message ?? msg);
  }
  await sleep(p.delayMs * p.pieces);
  const content: Obj[] = p.text ? [{ type: "text", text: p.text }] : [];
  let outChars = p.text.length;
  for (const t of p.toolUses) {
    content.push({ type: "tool_use", id: t.toolUseId ?? toolUseId(), name: t.name, input: t.input ?? {} });
    outChars += JSON.stringify(t.input ?? {}).length + t.name.length;
  }
  const output = Math.max(1, tokens(outChars));
  sendJson(res, 200, {
    id: messageId(), type: "message", role: "assistant", model: claudeModelName(modelId), content,
    stop_reason: p.stopReason, stop_sequence: null, usage: usageOf(prompt, output),
  }, {
    "x-amzn-requestid": randomUUID(),
    "x-amzn-bedrock-input-token-count": String(prompt.input),
    "x-amzn-bedrock-output-token-count": String(output),
    "x-amzn-bedrock-cache-read-input-token-count": String(prompt.read),
    "x-amzn-bedrock-cache-write-input-token-count": String(prompt.write),
    "x-amzn-bedrock-invocation-latency": String(Date.now() - started),
  });
}
