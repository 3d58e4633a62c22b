/**
 * Bedrock's rules for Claude's native Messages body (InvokeModel / InvokeModelWithResponseStream),
 * with Bedrock's and Anthropic's own wording where it is known. Two layers answer on Bedrock, and
 * the messages show it: Bedrock's JSON-schema check first ("Malformed input request: #: extraneous
 * key [model] is not permitted, please reformat your input and try again."), then Claude's own
 * request validation ("messages: roles must alternate between …"). Both come back as a 400
 * ValidationException. Pure (no Node API) like converse-rules.ts, so workerd tests can judge what
 * the model gateway sends with the very same rules.
 *
 * Returns the ValidationException message, or undefined when Bedrock would accept the body.
 */

import { decodeBase64, sniffImage } from "./image-bytes-check.ts";

type Obj = Record<string, unknown>;

export const ANTHROPIC_VERSION = "bedrock-2023-05-31";
/** Top-level keys Bedrock's schema permits for Claude; anything else (model, stream, metadata…) is refused. */
export const TOP_LEVEL_KEYS = new Set([
  "anthropic_version", "anthropic_beta", "max_tokens", "system", "messages", "temperature", "top_p", "top_k",
  "stop_sequences", "tools", "tool_choice", "thinking", "output_config",
]);
/** Bedrock's Claude image limits: these media types, at most 3.75 MB each and 20 per request. */
export const IMAGE_MEDIA_TYPES = ["image/jpeg", "image/png", "image/gif", "image/webp"] as const;
export const MAX_IMAGE_BYTES = 3_932_160;
export const MAX_IMAGES_PER_REQUEST = 20;
export const MAX_CACHE_CONTROL_BLOCKS = 4;
/** Block types, and the keys each may carry (Claude refuses any other: "Extra inputs are not permitted"). */
const BLOCK_KEYS: Record<string, string[]> = {
  text: ["type", "text", "cache_control", "citations"],
  image: ["type", "source", "cache_control"],
  document: ["type", "source", "cache_control", "title", "context", "citations"],
  tool_use: ["type", "id", "name", "input", "cache_control"],
  tool_result: ["type", "tool_use_id", "content", "is_error", "cache_control"],
  thinking: ["type", "thinking", "signature"],
  redacted_thinking: ["type", "data"],
};
const TOOL_KEYS = ["type", "name", "description", "input_schema", "cache_control", "strict"];

/** Max output tokens per model family (Opus 4.6: 128K per the model card; Sonnet 4.6: 64K). */
const maxOutput = (model: string) => (model.includes("opus") ? 128_000 : 64_000);
/** Opus 4.6 refuses a conversation ending with an assistant message (prefill). */
const noPrefill = (model: string) => model.includes("claude-opus-4-6");
/** Claude 4.5 and later refuse temperature and top_p together. */
const oneSamplingKnob = (model: string) => /claude-(opus|sonnet|haiku)-4-[5-9]|claude-[a-z]+-[5-9]/.test(model);
const modelName = (id: string) => id.replace(/^(global|us|eu|jp|apac|au)\./, "").replace(/^anthropic\./, "").replace(/-v\d+(:\d+)?$/, "");

const malformed = (detail: string) => `Malformed input request: ${detail}, please reformat your input and try again.`;
const isObject = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const typeName = (v: unknown) => (v === null ? "Null" : Array.isArray(v) ? "JSONArray" : typeof v === "string" ? "String" : typeof v === "number" ? (Number.isInteger(v) ? "Integer" : "BigDecimal") : typeof v === "boolean" ? "Boolean" : "JSONObject");
const extraKey = (o: Obj, allowed: string[]) => Object.keys(o).find((k) => !allowed.includes(k));

/** Per-request tallies the block checks feed. */
interface Tally { cacheControls: { ttl: string; where: string }[]; images: number }

function validateCacheControl(v: unknown, where: string, tally: Tally): string | undefined {
  if (v === undefined) return undefined;
  if (!isObject(v) || v.type !== "ephemeral") return `${where}.cache_control.type: Input should be 'ephemeral'`;
  const extra = extraKey(v, ["type", "ttl"]);
  if (extra) return `${where}.cache_control.${extra}: Extra inputs are not permitted`;
  if (v.ttl !== undefined && v.ttl !== "5m" && v.ttl !== "1h") return `${where}.cache_control.ttl: Input should be '5m' or '1h'`;
  tally.cacheControls.push({ ttl: (v.ttl as string | undefined) ?? "5m", where });
  return undefined;
}

function validateImage(b: Obj, where: string, tally: Tally): string | undefined {
  tally.images++;
  const src = b.source;
  if (!isObject(src)) return `${where}.source: Field required`;
  if (src.type !== "base64") return `${where}.source.type: Input should be 'base64'`; // Bedrock takes inline images only
  if (!IMAGE_MEDIA_TYPES.includes(src.media_type as never))
    return `${where}.source.base64.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'`;
  const bytes = typeof src.data === "string" && src.data !== "" ? decodeBase64(src.data) : undefined;
  if (!bytes) return `${where}.source.base64.data: The image data is empty or not valid base64.`;
  if (bytes.length > MAX_IMAGE_BYTES) return `${where}.source.base64: image exceeds 3.75 MB maximum: ${bytes.length} bytes > ${MAX_IMAGE_BYTES} bytes`;
  const sniffed = sniffImage(bytes);
  if (!sniffed) return `${where}.source.base64.data: Could not process image`;
  const actual = `image/${sniffed}`;
  if (actual !== src.media_type)
    return `${where}.source.base64.data: The image was specified using the ${String(src.media_type)} media type, but the image appears to be a ${actual} image`;
  return undefined;
}

function validateText(text: unknown, where: string): string | undefined {
  if (typeof text !== "string") return `${where}.text: Input should be a valid string`;
  if (text === "") return "messages: text content blocks must be non-empty";
  if (text.trim() === "") return "messages: text content blocks must contain non-whitespace text";
  return undefined;
}

/** One content block of a message (or of a tool_result); `role` decides which types may appear. */
function validateBlock(b: unknown, where: string, role: string, tally: Tally): string | undefined {
  if (!isObject(b)) return `${where}: Input should be a valid dictionary or object to extract fields from`;
  if (typeof b.type !== "string") return `${where}.type: Field required`;
  const keys = BLOCK_KEYS[b.type];
  if (!keys) return `${where}: Input tag '${b.type}' found using 'type' does not match any of the expected tags: ${Object.keys(BLOCK_KEYS).map((k) => `'${k}'`).join(", ")}`;
  const extra = extraKey(b, keys);
  if (extra) return `${where}.${b.type}.${extra}: Extra inputs are not permitted`;
  const cc = validateCacheControl(b.cache_control, where, tally);
  if (cc) return cc;
  switch (b.type) {
    case "text": return validateText(b.text, where);
    case "image": return validateImage(b, where, tally);
    case "document": return isObject(b.source) ? undefined : `${where}.source: Field required`;
    case "tool_use":
      if (role !== "assistant") return `${where}: tool_use blocks are only allowed in assistant messages`;
      if (typeof b.id !== "string" || !/^[a-zA-Z0-9_-]+$/.test(b.id)) return `${where}.id: String should match pattern '^[a-zA-Z0-9_-]+$'`;
      if (typeof b.name !== "string" || b.name === "") return `${where}.name: Field required`;
      return isObject(b.input) ? undefined : `${where}.input: Input should be a valid dictionary`;
    case "tool_result": {
      if (role !== "user") return `${where}: tool_result blocks are only allowed in user messages`;
      if (typeof b.tool_use_id !== "string") return `${where}.tool_use_id: Field required`;
      if (b.is_error !== undefined && typeof b.is_error !== "boolean") return `${where}.is_error: Input should be a valid boolean`;
      if (b.content === undefined || typeof b.content === "string") return undefined;
      if (!Array.isArray(b.content)) return `${where}.content: Input should be a valid string or list`;
      for (const [k, part] of b.content.entries()) {
        const w = `${where}.content.${k}`;
        if (!isObject(part) || (part.type !== "text" && part.type !== "image" && part.type !== "document"))
          return `${w}: Input tag '${String(isObject(part) ? part.type : part)}' found using 'type' does not match any of the expected tags: 'text', 'image', 'document'`;
        const err = validateBlock(part, w, role, tally);
        if (err) return err;
      }
      return undefined;
    }
    default: // thinking, redacted_thinking: Claude's own output, sent back as it came
      if (role !== "assistant") return `${where}: ${b.type} blocks are only allowed in assistant messages`;
      return b.type === "thinking" && (typeof b.thinking !== "string" || typeof b.signature !== "string")
        ? `${where}.signature: Field required` : undefined;
  }
}

function validateTools(tools: unknown, tally: Tally): string | undefined {
  if (!Array.isArray(tools)) return malformed(`#/tools: expected type: JSONArray, found: ${typeName(tools)}`);
  const names = new Set<string>();
  for (const [i, t] of tools.entries()) {
    if (!isObject(t)) return `tools.${i}: Input should be a valid dictionary`;
    const custom = t.type === undefined || t.type === "custom";
    const where = `tools.${i}.${custom ? "custom" : String(t.type)}`;
    if (typeof t.name !== "string" || !/^[a-zA-Z0-9_-]{1,64}$/.test(t.name)) return `${where}.name: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'`;
    if (names.has(t.name)) return "tools: Tool names must be unique.";
    names.add(t.name);
    if (custom) {
      const extra = extraKey(t, TOOL_KEYS);
      if (extra) return `${where}.${extra}: Extra inputs are not permitted`;
      if (!isObject(t.input_schema)) return `${where}.input_schema: Field required`;
      if (t.input_schema.type !== "object") return `${where}.input_schema.type: Input should be 'object'`;
    }
    const cc = validateCacheControl(t.cache_control, `tools.${i}`, tally);
    if (cc) return cc;
  }
  return undefined;
}

function validateSampling(body: Obj, modelId: string): string | undefined {
  const { temperature, top_p, top_k, stop_sequences } = body;
  for (const [k, v] of [["temperature", temperature], ["top_p", top_p]] as const)
    if (v !== undefined && (typeof v !== "number" || v < 0 || v > 1)) return `${k}: Input should be a number between 0 and 1`;
  if (top_k !== undefined && (!Number.isInteger(top_k) || (top_k as number) < 0)) return "top_k: Input should be a non-negative integer";
  if (stop_sequences !== undefined && (!Array.isArray(stop_sequences) || !stop_sequences.every((s) => typeof s === "string")))
    return malformed("#/stop_sequences: expected type: JSONArray of String");
  if (temperature !== undefined && top_p !== undefined && oneSamplingKnob(modelId))
    return "`temperature` and `top_p` cannot both be specified for this model. Please use only one.";
  return undefined;
}

function validateThinking(thinking: unknown, maxTokens: number): string | undefined {
  if (thinking === undefined) return undefined;
  if (!isObject(thinking) || !["enabled", "adaptive", "disabled"].includes(thinking.type as string))
    return "thinking.type: Input should be 'enabled', 'adaptive' or 'disabled'";
  if (thinking.type !== "enabled") return undefined;
  const budget = thinking.budget_tokens;
  if (!Number.isInteger(budget) || (budget as number) < 1024) return "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024";
  if (maxTokens <= (budget as number)) return "`max_tokens` must be greater than `thinking.budget_tokens`.";
  return undefined;
}

function validateToolChoice(choice: unknown, tools: unknown): string | undefined {
  if (choice === undefined) return undefined;
  if (!isObject(choice) || !["auto", "any", "tool", "none"].includes(choice.type as string))
    return "tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'";
  if (choice.type === "tool" && !(Array.isArray(tools) && tools.some((t) => isObject(t) && t.name === choice.name)))
    return `Tool '${String(choice.name)}' not found in tools.`;
  return undefined;
}

export function validateAnthropic(body: unknown, modelId: string): string | undefined {
  if (!isObject(body)) return malformed(`#: expected type: JSONObject, found: ${typeName(body)}`);
  const extra = Object.keys(body).find((k) => !TOP_LEVEL_KEYS.has(k));
  if (extra) return malformed(`#: extraneous key [${extra}] is not permitted`);
  for (const k of ["anthropic_version", "max_tokens", "messages"]) if (!(k in body)) return malformed(`#: required key [${k}] not found`);
  if (body.anthropic_version !== ANTHROPIC_VERSION)
    return malformed(`#/anthropic_version: ${JSON.stringify(body.anthropic_version)} is not a valid version, expected ${ANTHROPIC_VERSION}`);
  if (body.anthropic_beta !== undefined && (!Array.isArray(body.anthropic_beta) || !body.anthropic_beta.every((s) => typeof s === "string")))
    return malformed("#/anthropic_beta: expected type: JSONArray of String");
  const maxTokens = body.max_tokens;
  if (!Number.isInteger(maxTokens)) return malformed(`#/max_tokens: expected type: Integer, found: ${typeName(maxTokens)}`);
  if ((maxTokens as number) < 1) return malformed(`#/max_tokens: ${String(maxTokens)} is not greater or equal to 1`);
  if ((maxTokens as number) > maxOutput(modelId))
    return `max_tokens: ${String(maxTokens)} > ${maxOutput(modelId)}, which is the maximum allowed number of output tokens for ${modelName(modelId)}`;
  const err0 = validateSampling(body, modelId) ?? validateThinking(body.thinking, maxTokens as number) ?? validateToolChoice(body.tool_choice, body.tools);
  if (err0) return err0;
  if (body.output_config !== undefined && !isObject(body.output_config)) return "output_config: Input should be a valid dictionary";

  const tally: Tally = { cacheControls: [], images: 0 };
  if (body.tools !== undefined) { const err = validateTools(body.tools, tally); if (err) return err; }
  if (body.system !== undefined && typeof body.system !== "string") {
    if (!Array.isArray(body.system)) return "system: Input should be a valid string or list";
    for (const [i, b] of body.system.entries()) {
      if (!isObject(b) || b.type === undefined) return `system.${i}.type: Field required`;
      if (b.type !== "text") return `system.${i}.type: Input should be 'text'`;
      const err = validateBlock(b, `system.${i}`, "system", tally);
      if (err) return err.replace(/^messages:/, "system:");
    }
  }

  const messages = body.messages;
  if (!Array.isArray(messages)) return malformed(`#/messages: expected type: JSONArray, found: ${typeName(messages)}`);
  if (messages.length === 0) return "messages: at least one message is required";
  let pending: string[] = []; // tool_use ids the next message must answer
  let usesTools = false;
  for (const [i, m] of messages.entries()) {
    if (!isObject(m)) return `messages.${i}: Input should be a valid dictionary`;
    const extraM = extraKey(m, ["role", "content"]);
    if (extraM) return `messages.${i}.${extraM}: Extra inputs are not permitted`;
    if (m.role !== "user" && m.role !== "assistant") return `messages.${i}.role: Input should be 'user' or 'assistant'`;
    if (i === 0 && m.role !== "user") return 'messages: first message must use the "user" role';
    // Anthropic's own API merges consecutive same-role turns; Bedrock's Claude endpoint still refuses them.
    if (i > 0 && (messages[i - 1] as Obj).role === m.role)
      return `messages: roles must alternate between "user" and "assistant", but found multiple "${m.role}" roles in a row`;
    const last = i === messages.length - 1;
    const blocks = typeof m.content === "string" ? (m.content === "" ? [] : [{ type: "text", text: m.content }]) : m.content;
    if (!Array.isArray(blocks)) return `messages.${i}.content: Input should be a valid string or list`;
    if (blocks.length === 0 && !(last && m.role === "assistant"))
      return `messages.${i}: all messages must have non-empty content except for the optional final assistant message`;
    for (const [j, b] of blocks.entries()) {
      const err = validateBlock(b, typeof m.content === "string" ? `messages.${i}.content` : `messages.${i}.content.${j}`, m.role, tally);
      if (err) return err;
    }
    const typed = blocks as Obj[];
    const uses = typed.filter((b) => b.type === "tool_use").map((b) => String(b.id));
    const results = typed.map((b, j) => [b, j] as const).filter(([b]) => b.type === "tool_result");
    usesTools ||= uses.length > 0 || results.length > 0;
    if (new Set(uses).size !== uses.length) return "`tool_use` ids must be unique";
    for (const [b, j] of results)
      if (!pending.includes(String(b.tool_use_id)))
        return `messages.${i}.content.${j}: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${String(b.tool_use_id)}. Each \`tool_result\` block must have a corresponding \`tool_use\` block in the previous message.`;
    const missing = pending.filter((id) => !results.some(([b]) => b.tool_use_id === id));
    if (missing.length)
      return `messages.${i - 1}: \`tool_use\` ids were found without \`tool_result\` blocks immediately after: ${missing.join(", ")}. Each \`tool_use\` block must have a corresponding \`tool_result\` block in the next message.`;
    pending = uses;
    if (last && m.role === "assistant") {
      if (noPrefill(modelId)) return "This model does not support assistant message prefill. The conversation must end with a user message.";
      const tail = typed.at(-1);
      if (tail?.type === "text" && typeof tail.text === "string" && /\s$/.test(tail.text)) return "messages: final assistant content cannot end with trailing whitespace";
    }
  }
  if (pending.length) // a conversation may not end on an unanswered tool_use
    return `messages.${messages.length - 1}: \`tool_use\` ids were found without \`tool_result\` blocks immediately after: ${pending.join(", ")}. Each \`tool_use\` block must have a corresponding \`tool_result\` block in the next message.`;
  if (usesTools && !Array.isArray(body.tools)) return "Requests which include `tool_use` or `tool_result` blocks must define tools.";
  if (tally.cacheControls.length > MAX_CACHE_CONTROL_BLOCKS)
    return `A maximum of ${MAX_CACHE_CONTROL_BLOCKS} blocks with cache_control may be provided. Found ${tally.cacheControls.length}.`;
  const firstShort = tally.cacheControls.findIndex((c) => c.ttl === "5m");
  if (firstShort >= 0 && tally.cacheControls.slice(firstShort).some((c) => c.ttl === "1h"))
    return "a ttl='1h' cache_control block must not come after a ttl='5m' cache_control block. Note that blocks are processed in the following order: `tools`, `system`, `messages`.";
  if (tally.images > MAX_IMAGES_PER_REQUEST) return `Too many images: at most ${MAX_IMAGES_PER_REQUEST} images may be sent in one request. Found ${tally.images}.`;
  return undefined;
}
