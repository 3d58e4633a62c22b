/**
 * Local stand-in for the Amazon Bedrock Runtime API: Converse, ConverseStream, InvokeModel and
 * InvokeModelWithResponseStream (Claude's native Messages body: dev/bedrock-anthropic.ts, judged by
 * dev/anthropic-rules.ts) and InvokeModel for Nova Canvas images. It speaks the real wire protocol (restJson1 errors, AWS event-stream binary frames
 * built with @smithy/eventstream-codec) so the real `@aws-sdk/client-bedrock-runtime` decodes it in
 * Node and inside workerd, and it is held to Bedrock's documented behaviour
 * (/work/shared/reference/bedrock-telegram-cloudflare.md §1), not to what our code expects.
 *
 * Run: `npx node dev/bedrock-standin.ts --port 9101`. Tests drive it over HTTP (JSON in, JSON out):
 *   POST   /__control/script   {key?, replies: Reply[]}  queue replies (key "default" unless given)
 *   GET    /__control/script?key=                        {key, pending: Reply[]};  DELETE clears that queue
 *   POST   /__control/bench    {pieces, intervalMs} | {} benchmark mode for unscripted replies (⟨t=ms⟩ pieces)
 *   POST   /__control/config   {pieces?, delayMs?, minCacheTokens?, cacheTtlMs?} (null → default); GET reads
 *   POST   /__control/models   {add?: string[], remove?: string[]}  allow-list; GET lists
 *   GET    /__control/requests?key=&limit=               {requests: RecordedRequest[]} newest last; DELETE [?key=] clears
 *   DELETE /__control/cache                              forget prompt-cache prefixes
 *   POST   /__control/reset    {key?}                    everything, or one key's queue and requests
 * A request's key is the first `[[scenario:KEY]]` marker in its system text (blocks, or Claude's
 * system string), else in its messages' text (blocks or string content; images: in
 * textToImageParams.text), else "default". Scripted replies serve Converse and Claude InvokeModel
 * alike (toolUse → Claude `tool_use` blocks, streamError → an exception frame). An empty key
 * queue falls back to the default reply, never to another key's queue, so parallel tests are isolated.
 */
import { createHash, randomBytes, randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { deflateSync } from "node:zlib";
import { validateAnthropic } from "./anthropic-rules.ts";
import { anthropicInvoke, anthropicStream, anthropicTexts, anthropicUnits, anthropicUserSaid } from "./bedrock-anthropic.ts";
import { awsError, frame, MARKER, split, streamText, STREAM_EXCEPTIONS, tokens, type Obj, type Plan, type PromptUnit, type PromptUsage, type StreamExceptionName } from "./bedrock-wire.ts";
import { validateConverse } from "./converse-rules.ts";
import { isMain, isObject, readBody, runMain, sendJson, serve, sleep, type StandinHandle, type StartOptions } from "./standin-util.ts";

/** A scripted answer, queued with `POST /__control/script`. `model` restricts it to one model id. */
export type Reply = { model?: string } & (
  | { text: string; pieces?: number; delayMs?: number; stopReason?: string }
  | { toolUse: ToolUseSpec | ToolUseSpec[]; text?: string; pieces?: number; delayMs?: number }
  | { throttle: "http" | "stream"; afterPieces?: number; text?: string }
  | { error: "validation" | "internal" | "unavailable"; message?: string }
  | { streamError: StreamExceptionName; afterPieces?: number; text?: string; message?: string }
  | { hang: true; afterPieces?: number; text?: string }
);
export interface ToolUseSpec { name: string; input: unknown; toolUseId?: string }

/** One recorded data-plane request, as returned by `GET /__control/requests`. */
export interface RecordedRequest {
  seq: number; time: number; operation: string; path: string; modelId: string;
  auth: "sigv4" | "bearer"; region?: string; key: string; body: unknown; status?: number; outcome?: string;
}

const DEFAULT_MODELS = ["global.anthropic.claude-opus-4-6-v1", "global.anthropic.claude-sonnet-4-6", "amazon.nova-canvas-v1:0"];
const DEFAULT_KEY = "default";
const CACHE_TTL_MS = { "5m": 5 * 60_000, "1h": 60 * 60_000 };
const HTTP_ERRORS = {
  validation: [400, "ValidationException", "Scripted validation error."],
  internal: [500, "InternalServerException", "The server encountered an internal error. Try your request again."],
  unavailable: [503, "ServiceUnavailableException", "Bedrock is unable to process your request."],
} as const;

// ---------------------------------------------------------------------------------------------
// Token accounting and prompt caching (deterministic: ceil(chars / 4) tokens).

/** Prompt units in Anthropic's cache order (tools → system → messages); cachePoints are boundaries. */
function promptUnits(body: Obj): PromptUnit[] {
  const units: PromptUnit[] = [];
  const add = (where: string, b: Obj) => {
    if ("cachePoint" in b) { units.push({ id: where, chars: 0, cachePoint: (b.cachePoint as Obj) ?? {} }); return; }
    const [k, v] = Object.entries(b)[0] ?? ["", ""];
    let chars: number;
    if (k === "text") chars = String(v).length;
    else if (k === "image" || k === "document" || k === "video") chars = 4 * 1_000; // flat 1,000 tokens per media block
    else chars = JSON.stringify(v).length;
    units.push({ id: `${where}:${JSON.stringify(b)}`, chars });
  };
  const tools = (isObject(body.toolConfig) && Array.isArray(body.toolConfig.tools) ? body.toolConfig.tools : []) as Obj[];
  tools.forEach((t) => add("tools", t));
  ((body.system ?? []) as Obj[]).forEach((b) => add("system", b));
  (body.messages as Obj[]).forEach((m, i) => (m.content as Obj[]).forEach((b) => add(`m${i}:${m.role}`, b)));
  return units;
}

// ---------------------------------------------------------------------------------------------
// Tiny valid PNG (solid colour) for the image model.

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const byte of buf) c = CRC_TABLE[(c ^ byte) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function pngChunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}
/** A width×height RGB PNG filled with one colour. */
export function solidPng(width: number, height: number, rgb: [number, number, number]): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit, truecolour, deflate, no filter method, no interlace
  const row = Buffer.alloc(1 + width * 3);
  for (let x = 0; x < width; x++) row.set(rgb, 1 + x * 3);
  const raw = Buffer.concat(Array.from({ length: height }, () => row));
  const sig = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([sig, pngChunk("IHDR", ihdr), pngChunk("IDAT", deflateSync(raw)), pngChunk("IEND", Buffer.alloc(0))]);
}

// ---------------------------------------------------------------------------------------------

function replyKind(r: unknown): string | undefined {
  if (!isObject(r)) return undefined;
  const kinds = ["toolUse", "throttle", "error", "streamError", "hang"].filter((k) => k in r);
  if (kinds.length > 1) return undefined;
  if (kinds.length === 0) return typeof r.text === "string" ? "text" : undefined;
  const k = kinds[0]!;
  if (k === "throttle" && r.throttle !== "http" && r.throttle !== "stream") return undefined;
  if (k === "error" && !(String(r.error) in HTTP_ERRORS)) return undefined;
  if (k === "streamError" && !(String(r.streamError) in STREAM_EXCEPTIONS)) return undefined;
  if (k === "toolUse" && ![r.toolUse].flat().every((t) => isObject(t) && typeof t.name === "string")) return undefined;
  return k;
}

function lastUserSaid(body: Obj): string {
  const msgs = (body.messages ?? []) as Obj[];
  const last = [...msgs].reverse().find((m) => m.role === "user");
  const blocks = (last?.content ?? []) as Obj[];
  const text = blocks.filter((b) => typeof b.text === "string").map((b) => b.text as string).join(" ").replace(MARKER, "").trim();
  // Images are described by count and format, so a test (or a person in `npm run dev`) sees they arrived.
  const images = blocks.filter((b) => isObject(b.image)).map((b) => String((b.image as Obj).format));
  const seen = images.length ? `I see ${images.length} image${images.length === 1 ? "" : "s"} (${[...new Set(images)].join(", ")}). ` : "";
  if (text) return `${seen}You said: ${text.length > 300 ? text.slice(0, 300) + "…" : text}`;
  if (seen) return seen.trim();
  if (blocks.some((b) => "toolResult" in b)) return "Thanks, I got the tool result.";
  return "Hello!";
}

/**
 * Starts the Bedrock stand-in. Every call gets independent state.
 * @returns the bound port, base URL (use it as the SDK `endpoint` / `BEDROCK_ENDPOINT`) and `close()`.
 */
export async function start(options: StartOptions = {}): Promise<StandinHandle> {
  const DEFAULT_CONFIG = { pieces: 8, delayMs: 20, minCacheTokens: 0, cacheTtlMs: null as number | null };
  // minCacheTokens defaults to 0 (not Opus 4.6's real 4,096) so small test prompts still show caching;
  // set it via POST /__control/config { minCacheTokens: 4096 } to test the real threshold.
  let config = { ...DEFAULT_CONFIG };
  let bench: { pieces: number; intervalMs: number } | null = null;
  let models = new Set(DEFAULT_MODELS);
  let queues = new Map<string, Reply[]>();
  let cache = new Map<string, number>(); // prefix hash → expiry (ms)
  let requests: RecordedRequest[] = [];
  let seq = 0;
  const open = new Set<ServerResponse>();

  const isImageModel = (id: string) => /canvas|image|stable|sd3/.test(id);

  function takeReply(key: string, modelId: string, image: boolean): Reply | undefined {
    const q = queues.get(key);
    // Image requests only take replies addressed to that exact model, so a chat script is never eaten.
    const i = q?.findIndex((r) => (image ? r.model === modelId : r.model === undefined || r.model === modelId)) ?? -1;
    return i >= 0 ? q!.splice(i, 1)[0] : undefined;
  }

  /**
   * The one prompt-cache model of both paths (Converse cachePoints, Claude cache_control): a prefix
   * ending at a marker is written on first sight and read while it lives; the longest live prefix
   * wins. Records the writes, so call it once per request.
   */
  function promptUsage(units: PromptUnit[], modelId: string): PromptUsage {
    const now = Date.now();
    let chars = 0, hash = createHash("sha256").update(modelId);
    const points: { tokens: number; hash: string; ttl: number; label: "5m" | "1h" }[] = [];
    for (const u of units) {
      if (u.cachePoint) {
        const t = tokens(chars);
        if (t > 0 && t >= config.minCacheTokens) {
          const label = u.cachePoint.ttl === "1h" ? "1h" : "5m";
          points.push({ tokens: t, hash: hash.copy().digest("hex"), ttl: config.cacheTtlMs ?? CACHE_TTL_MS[label], label });
        }
      } else { chars += u.chars; hash.update(u.id); }
    }
    const total = Math.max(1, tokens(chars));
    let read = 0;
    for (const p of points) if ((cache.get(p.hash) ?? 0) > now) read = p.tokens; // longest live prefix wins
    const cached = points.length ? points[points.length - 1]!.tokens : 0;
    for (const p of points) cache.set(p.hash, now + p.ttl); // write new prefixes, refresh hit TTLs
    const write = Math.max(0, cached - read);
    const input = total - read - write; // Bedrock's inputTokens excludes cache reads and writes
    return { input, read, write, ...(write > 0 ? { writeTtl: points[points.length - 1]!.label } : {}) };
  }

  function usage(body: Obj, modelId: string, outputChars: number) {
    const { input, read, write, writeTtl } = promptUsage(promptUnits(body), modelId);
    const output = Math.max(1, tokens(outputChars));
    return {
      inputTokens: input, outputTokens: output, totalTokens: input + output + read + write,
      cacheReadInputTokens: read, cacheWriteInputTokens: write,
      ...(writeTtl ? { cacheDetails: [{ ttl: writeTtl, inputTokens: write }] } : {}),
    };
  }

  /** Plan of a successful (or mid-stream failing) answer. */
  function plan(reply: Reply | undefined, said: string): Plan {
    const r = (reply ?? {}) as Obj;
    const toolUses = (r.toolUse ? [r.toolUse].flat() : []) as ToolUseSpec[];
    const text = typeof r.text === "string" ? r.text : toolUses.length ? "" : `(local Bedrock stand-in) ${said}`;
    const useBench = !reply && bench !== null;
    return {
      text, toolUses, useBench,
      pieces: useBench ? bench!.pieces : Number(r.pieces ?? config.pieces),
      delayMs: useBench ? bench!.intervalMs : Number(r.delayMs ?? config.delayMs),
      stopReason: toolUses.length ? "tool_use" : String(r.stopReason ?? "end_turn"),
      fault: r.streamError ? String(r.streamError) : r.throttle === "stream" ? "throttlingException" : r.hang ? "hang" : undefined,
      afterPieces: Number(r.afterPieces ?? 2),
      message: typeof r.message === "string" ? r.message : undefined,
    };
  }

  async function converseStream(res: ServerResponse, p: Plan, body: Obj, modelId: string, started: number) {
    res.writeHead(200, { "content-type": "application/vnd.amazon.eventstream", "x-amzn-requestid": randomUUID() });
    res.flushHeaders();
    const alive = () => !res.destroyed && !res.writableEnded;
    const send = (f: Uint8Array) => alive() && res.write(f);
    let outChars = 0, index = 0;
    send(frame("messageStart", { role: "assistant" }));
    const sent = await streamText(res, p, {
      open: () => {},
      piece: (text) => send(frame("contentBlockDelta", { contentBlockIndex: index, delta: { text } })),
      close: () => send(frame("contentBlockStop", { contentBlockIndex: index++ })),
    });
    if (sent === null) return;
    outChars += sent;
    for (const t of p.toolUses) {
      const toolUseId = t.toolUseId ?? `tooluse_${randomBytes(16).toString("base64url").slice(0, 22)}`;
      send(frame("contentBlockStart", { contentBlockIndex: index, start: { toolUse: { toolUseId, name: t.name } } }));
      const json = JSON.stringify(t.input ?? {});
      outChars += json.length + t.name.length;
      for (const part of split(json, 3)) {
        await sleep(p.delayMs);
        send(frame("contentBlockDelta", { contentBlockIndex: index, delta: { toolUse: { input: part } } }));
      }
      send(frame("contentBlockStop", { contentBlockIndex: index++ }));
    }
    send(frame("messageStop", { stopReason: p.stopReason }));
    send(frame("metadata", { usage: usage(body, modelId, outChars), metrics: { latencyMs: Date.now() - started } }));
    res.end();
  }

  async function converse(res: ServerResponse, p: Plan, body: Obj, modelId: string, started: number) {
    if (p.fault === "hang") { await new Promise((r) => res.once("close", r)); return; }
    if (p.fault) {
      const [status, type, msg] = STREAM_EXCEPTIONS[p.fault as StreamExceptionName];
      return awsError(res, status, type, p.message ?? msg);
    }
    await sleep(p.delayMs * p.pieces);
    const content: Obj[] = p.text ? [{ text: p.text }] : [];
    let outChars = p.text.length;
    for (const t of p.toolUses) {
      const toolUseId = t.toolUseId ?? `tooluse_${randomBytes(16).toString("base64url").slice(0, 22)}`;
      content.push({ toolUse: { toolUseId, name: t.name, input: t.input ?? {} } });
      outChars += JSON.stringify(t.input ?? {}).length + t.name.length;
    }
    sendJson(res, 200, {
      output: { message: { role: "assistant", content } }, stopReason: p.stopReason,
      usage: usage(body, modelId, outChars), metrics: { latencyMs: Date.now() - started },
    }, { "x-amzn-requestid": randomUUID() });
  }

  async function invoke(res: ServerResponse, reply: Reply | undefined, body: Obj) {
    const params = isObject(body.textToImageParams) ? body.textToImageParams : {};
    const cfg = isObject(body.imageGenerationConfig) ? body.imageGenerationConfig : {};
    if (body.taskType !== "TEXT_IMAGE")
      return awsError(res, 400, "ValidationException", "Malformed input request: the local stand-in only supports taskType TEXT_IMAGE, please reformat your input and try again.");
    const text = params.text;
    if (typeof text !== "string" || text.length < 1 || text.length > 1024)
      return awsError(res, 400, "ValidationException", "Malformed input request: #/textToImageParams/text: expected a string of 1 to 1024 characters, please reformat your input and try again.");
    const width = Number(cfg.width ?? 64), height = Number(cfg.height ?? 64), n = Number(cfg.numberOfImages ?? 1);
    // Nova Canvas: sides 320–4096 and multiples of 16 when given; we default to 64×64 to keep tests light.
    const badSide = (v: unknown) => v !== undefined && (!Number.isInteger(v) || (v as number) < 320 || (v as number) > 4096 || (v as number) % 16 !== 0);
    if (badSide(cfg.width) || badSide(cfg.height) || width * height > 4_194_304)
      return awsError(res, 400, "ValidationException", "Malformed input request: imageGenerationConfig width and height must be 320–4096, divisible by 16, and at most 4,194,304 pixels, please reformat your input and try again.");
    if (!Number.isInteger(n) || n < 1 || n > 5)
      return awsError(res, 400, "ValidationException", "Malformed input request: #/imageGenerationConfig/numberOfImages: must be 1 to 5, please reformat your input and try again.");
    if (reply && "hang" in reply) { await new Promise((r) => res.once("close", r)); return; }
    await sleep(config.delayMs);
    const digest = createHash("sha256").update(text).digest();
    const images = Array.from({ length: n }, (_, i) =>
      solidPng(width, height, [digest[0]! ^ (i * 40), digest[1]!, digest[2]!]).toString("base64"));
    sendJson(res, 200, { images }, { "x-amzn-requestid": randomUUID() });
  }

  function scenarioKey(body: Obj): string {
    const texts: string[] = [];
    for (const b of (Array.isArray(body.system) ? body.system : []) as Obj[]) if (typeof b?.text === "string") texts.push(b.text);
    for (const m of (Array.isArray(body.messages) ? body.messages : []) as Obj[])
      for (const b of (Array.isArray(m?.content) ? m.content : []) as Obj[]) if (typeof b?.text === "string") texts.push(b.text);
    if (isObject(body.textToImageParams) && typeof body.textToImageParams.text === "string") texts.push(body.textToImageParams.text);
    // Claude's native body: system and message content may also be plain strings.
    if ("anthropic_version" in body) texts.push(...anthropicTexts(body));
    for (const t of texts) { const m = MARKER.exec(t); if (m) return m[1]!; }
    return DEFAULT_KEY;
  }

  /** `/__control/*`: JSON in, JSON out. */
  async function control(req: IncomingMessage, res: ServerResponse, url: URL) {
    const raw = req.method === "GET" ? "" : (await readBody(req)).toString("utf8");
    const input = (raw.trim() ? JSON.parse(raw) : {}) as Obj | null;
    const key = url.searchParams.get("key") ?? (typeof input?.key === "string" ? input.key : undefined);
    const route = `${req.method} ${url.pathname.slice("/__control".length)}`;
    switch (route) {
      case "POST /script": {
        const replies = input?.replies;
        if (!Array.isArray(replies) || replies.some((r) => !replyKind(r)))
          return sendJson(res, 400, { error: "expected { key?, replies: Reply[] } with one of text | toolUse | throttle | error | streamError | hang per reply" });
        const k = key ?? DEFAULT_KEY;
        queues.set(k, [...(queues.get(k) ?? []), ...(replies as Reply[])]);
        return sendJson(res, 200, { key: k, pending: queues.get(k)!.length });
      }
      case "GET /script": return sendJson(res, 200, { key: key ?? DEFAULT_KEY, pending: queues.get(key ?? DEFAULT_KEY) ?? [] });
      case "DELETE /script": queues.delete(key ?? DEFAULT_KEY); return sendJson(res, 200, { ok: true });
      case "POST /bench":
        bench = input && Number(input.pieces) > 0 ? { pieces: Number(input.pieces), intervalMs: Number(input.intervalMs ?? 25) } : null;
        return sendJson(res, 200, { bench });
      case "POST /config":
        for (const k of Object.keys(DEFAULT_CONFIG) as (keyof typeof DEFAULT_CONFIG)[])
          if (input && k in input) (config as Obj)[k] = input[k] === null ? DEFAULT_CONFIG[k] : Number(input[k]);
        return sendJson(res, 200, { config });
      case "GET /config": return sendJson(res, 200, { config, bench });
      case "POST /models":
        for (const id of (Array.isArray(input?.add) ? input.add : []) as string[]) models.add(String(id));
        for (const id of (Array.isArray(input?.remove) ? input.remove : []) as string[]) models.delete(String(id));
        return sendJson(res, 200, { models: [...models] });
      case "GET /models": return sendJson(res, 200, { models: [...models] });
      case "GET /requests": {
        const limit = Number(url.searchParams.get("limit") ?? 0);
        const list = requests.filter((r) => key === undefined || r.key === key);
        return sendJson(res, 200, { requests: limit > 0 ? list.slice(-limit) : list });
      }
      case "DELETE /requests":
        requests = key === undefined ? [] : requests.filter((r) => r.key !== key);
        return sendJson(res, 200, { ok: true });
      case "DELETE /cache": cache = new Map(); return sendJson(res, 200, { ok: true });
      case "POST /reset":
        if (key !== undefined) { queues.delete(key); requests = requests.filter((r) => r.key !== key); return sendJson(res, 200, { ok: true }); }
        config = { ...DEFAULT_CONFIG }; bench = null; models = new Set(DEFAULT_MODELS);
        queues = new Map(); cache = new Map(); requests = [];
        return sendJson(res, 200, { ok: true });
    }
    return sendJson(res, 404, { error: `unknown control route ${route}` });
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? "/", "http://standin");
    if (url.pathname.startsWith("/__control/")) return control(req, res, url);
    const m = /^\/model\/([^/]+)\/(converse-stream|converse|invoke-with-response-stream|invoke)$/.exec(url.pathname);
    if (!m || req.method !== "POST") return awsError(res, 404, "UnknownOperationException", "Unknown operation.");
    const started = Date.now();
    const modelId = decodeURIComponent(m[1]!);
    const operation = m[2]!;
    const authz = String(req.headers.authorization ?? "");
    const sig = /^AWS4-HMAC-SHA256 Credential=[^/]+\/\d{8}\/([^/]+)\/([^/]+)\/aws4_request/.exec(authz);
    if (!sig && !/^Bearer \S+/.test(authz))
      return awsError(res, 403, "AccessDeniedException", "Authorization header requires 'Credential' parameter or a Bedrock API key (Bearer).");
    if (sig && sig[2] !== "bedrock") return awsError(res, 403, "AccessDeniedException", `Credential should be scoped to correct service: 'bedrock'.`);
    let body: Obj;
    try {
      const parsed = JSON.parse((await readBody(req)).toString("utf8"));
      body = isObject(parsed) ? parsed : {};
    } catch {
      return awsError(res, 400, "ValidationException", "Malformed input request, please reformat your input and try again.");
    }
    const rec: RecordedRequest = {
      seq: ++seq, time: Date.now(), operation, path: url.pathname, modelId, auth: sig ? "sigv4" : "bearer",
      ...(sig ? { region: sig[1] } : {}), key: scenarioKey(body), body,
    };
    requests.push(rec);
    if (requests.length > 2_000) requests.splice(0, requests.length - 2_000); // bound memory in long dev sessions
    open.add(res);
    res.once("close", () => { open.delete(res); rec.status ??= res.statusCode; });
    const fail = (status: number, type: string, message: string) => { rec.status = status; rec.outcome = type; awsError(res, status, type, message); };
    if (!models.has(modelId)) return fail(400, "ValidationException", "The provided model identifier is invalid.");
    const image = isImageModel(modelId);
    // InvokeModel* on a Claude model takes Claude's native Messages body (dev/bedrock-anthropic.ts).
    const native = operation.startsWith("invoke") && !image;
    if (image && operation !== "invoke")
      return fail(400, "ValidationException", operation === "invoke-with-response-stream"
        ? "The model is unsupported for streaming."
        : "This action doesn't support the model that you provided. Try again with a supported text or chat model.");
    if (native && !modelId.includes("anthropic.claude"))
      return fail(400, "ValidationException", "The local stand-in only implements InvokeModel for Claude and image models.");
    const err = image ? undefined : native ? validateAnthropic(body, modelId) : validateConverse(body, modelId);
    if (err) return fail(400, "ValidationException", err);
    const reply = takeReply(rec.key, modelId, image);
    rec.outcome = reply ? `scripted:${replyKind(reply)}` : bench && !image ? "bench" : "default";
    if (reply && "throttle" in reply && (reply.throttle === "http" || image))
      return fail(429, "ThrottlingException", "Too many requests, please wait before trying again.");
    if (reply && "error" in reply) {
      const [status, type, msg] = HTTP_ERRORS[reply.error];
      return fail(status, type, reply.message ?? msg);
    }
    if (image) return invoke(res, reply, body);
    const p = plan(reply, native ? anthropicUserSaid(body) : lastUserSaid(body));
    if (p.fault === "hang" && !("afterPieces" in (reply as Obj))) { await new Promise((r) => res.once("close", r)); return; }
    if (native) {
      const call = { res, plan: p, modelId, started, prompt: promptUsage(anthropicUnits(body), modelId) };
      return operation === "invoke" ? anthropicInvoke(call) : anthropicStream(call);
    }
    return operation === "converse" ? converse(res, p, body, modelId, started) : converseStream(res, p, body, modelId, started);
  }

  return serve(handle, options, () => { for (const r of open) r.destroy(); });
}

if (isMain(import.meta.url)) await runMain("bedrock stand-in", start);
