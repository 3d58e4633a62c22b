/**
 * Local stand-in for the Telegram Bot API (https://core.telegram.org/bots/api): `/bot<token>/<method>`
 * with JSON, urlencoded or multipart bodies, the `{ok, result}` / `{ok:false, error_code, description,
 * parameters}` envelope, webhook registration, and update delivery to a bot's webhook with the
 * `X-Telegram-Bot-Api-Secret-Token` header, sequential per chat like Telegram. Every API call is
 * recorded; `/__control/...` injects failures (429 with retry_after, ...) and delivers updates.
 * It is held to the documented Bot API behaviour (reference §2), not to what our code expects.
 *
 * Control API (JSON in, JSON out; state is per bot token, so tests using distinct tokens are isolated):
 *   POST /__control/deliver     {token, text?, chatId?, fromId?, firstName?, updateId?, update?, timeoutMs?}
 *                               → {status, body, ms, error?, skipped?, updateId, update, callsSeq}
 *   POST /__control/deliver-raw {token, update}        sends exactly `update` (duplicates, out of order)
 *   ... either with dryRun: true → {updateId, update, url, headers, callsSeq}: built, not sent (for SELF.fetch)
 *   ... with photo: base64 (and caption?) the update carries a photo (two sizes; getFile and /file/ serve its bytes)
 *   POST /__control/fail        {token?, method ("*" = any), times=1, retryAfter=2, errorCode=429, description?}
 *   POST /__control/flood       {token, minIntervalMs, retryAfter=1}  editMessageText / sendMessageDraft to one chat
 *                               closer together than minIntervalMs answer 429 with retry_after, as Telegram's flood
 *                               control does (minIntervalMs 0 turns it off)
 *   POST /__control/revoke      {token, revoked?: false} token answers 401 Unauthorized (false undoes)
 *   GET  /__control/calls?token=&method=&since=&chatId=  → {calls: RecordedCall[]} (since = seq, exclusive)
 *   GET  /__control/bots[?token=]                        → {bots: [...]} (no tokens in the output)
 *   POST /__control/reset       {token?}               one bot, or everything
 *
 * Run: `npx node dev/telegram-standin.ts --port 9102`
 * Chat as a user: `npx node dev/telegram-standin.ts say --token T --text "hi" [--port 9102] [--chat 42]`
 *   (or `--photo picture.jpg [--text caption]`: a photo message; replies print as they stream, drafts included)
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { flags, isMain, isObject, readBody, runMain, sendJson, serve, sleep, type StandinHandle, type StartOptions } from "./standin-util.ts";

type Obj = Record<string, unknown>;

/** One recorded Bot API call, as returned by `GET /__control/calls` (never contains the token). */
export interface RecordedCall {
  seq: number; time: number; botId: number; method: string; params: Obj;
  files?: { field: string; filename?: string; size: number; contentType?: string }[];
  ok: boolean; errorCode?: number; description?: string; result?: unknown; viaWebhookReply?: boolean;
}
interface Chat { chat: Obj; nextMessageId: number; messages: Map<number, Obj> }
interface Bot {
  id: number; token: string; username: string; firstName: string;
  webhook: { url: string; secret?: string; allowedUpdates?: string[]; maxConnections: number; lastErrorDate?: number; lastErrorMessage?: string };
  nextUpdateId: number; chats: Map<string, Chat>; lanes: Map<string, Promise<unknown>>;
  /** Files the bot can fetch (photos in updates, its own uploads), by file_id. */
  files: Map<string, { path: string; data: Buffer }>;
  flood: { minIntervalMs: number; retryAfter: number; lastAt: Map<string, number> };
}
/** Telegram lets bots download files of at most 20 MB. */
const MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024;
interface Fail { token?: string; method: string; remaining: number; retryAfter: number; errorCode: number; description?: string }

const TOKEN = /^(\d+):([A-Za-z0-9_-]{35})$/;
const METHODS = ["getMe", "getFile", "logOut", "close", "getUpdates", "setWebhook", "deleteWebhook", "getWebhookInfo", "sendMessage",
  "sendMessageDraft", "sendChatAction", "sendPhoto", "editMessageText", "deleteMessage", "answerCallbackQuery", "getChat",
  "setMyCommands", "deleteMyCommands", "getMyCommands", "setMyDescription", "setMyShortDescription", "setMyName", "setChatMenuButton"];
const CANONICAL = new Map(METHODS.map((m) => [m.toLowerCase(), m])); // Bot API method names are case-insensitive
const CHAT_ACTIONS = new Set(["typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
  "upload_document", "choose_sticker", "find_location", "record_video_note", "upload_video_note"]);
const JSON_FIELDS = ["allowed_updates", "reply_markup", "entities", "caption_entities", "link_preview_options", "reply_parameters", "commands"];
const UPDATE_TYPES = ["message", "edited_message", "channel_post", "callback_query", "inline_query", "my_chat_member", "chat_member"];

/** A Bot API error; `code` becomes both the HTTP status and `error_code`. */
class TgError extends Error {
  code: number; parameters?: Obj;
  constructor(code: number, description: string, parameters?: Obj) { super(description); this.code = code; this.parameters = parameters; }
}
const bad = (what: string) => new TgError(400, `Bad Request: ${what}`);

// ---------------------------------------------------------------------------------------------
// Formatting: Telegram parses parse_mode markup server-side and rejects malformed text with
// "Bad Request: can't parse entities: ...". These parsers return the plain text (its length is
// what the 4096/1024 limits apply to) or that error.

const entityError = (m: string) => bad(`can't parse entities: ${m}`);
const byteAt = (s: string, i: number) => Buffer.byteLength(s.slice(0, i));

function parseMarkdownV2(s: string): string {
  const names: Record<string, string> = { "*": "Bold", _: "Italic", __: "Underline", "~": "Strikethrough", "||": "Spoiler", "[": "TextUrl" };
  const stack: { type: string; at: number }[] = [];
  let out = "";
  for (let i = 0; i < s.length; ) {
    const c = s[i]!;
    const code = c === "`" ? (s.startsWith("```", i) ? "```" : "`") : undefined;
    if (c === "\\") {
      const n = s.charCodeAt(i + 1);
      if (n >= 1 && n <= 126) { out += s[i + 1]; i += 2; } else { out += c; i++; }
    } else if (code) {
      // Inside code/pre only ` and \ are special; find the unescaped closing delimiter.
      let j = i + code.length, inner = "";
      while (j < s.length && !s.startsWith(code, j)) { if (s[j] === "\\" && j + 1 < s.length) j++; inner += s[j]; j++; }
      if (j >= s.length) throw entityError(`Can't find end of ${code === "`" ? "Code" : "Pre"} entity at byte offset ${byteAt(s, i)}`);
      out += code === "```" ? inner.replace(/^[^\n]*\n/, "") : inner;
      i = j + code.length;
    } else if (c === "*" || c === "_" || c === "~" || (c === "|" && s[i + 1] === "|")) {
      const type = c === "_" && s[i + 1] === "_" ? "__" : c === "|" ? "||" : c;
      if (stack.at(-1)?.type === type) stack.pop(); else stack.push({ type, at: i });
      i += type.length;
    } else if (c === "[" || (c === "!" && s[i + 1] === "[")) {
      stack.push({ type: "[", at: i });
      i += c === "!" ? 2 : 1;
    } else if (c === "]" && stack.at(-1)?.type === "[") {
      if (s[i + 1] !== "(") throw entityError(`Can't find end of a URL at byte offset ${byteAt(s, i)}`);
      let j = i + 2;
      while (j < s.length && s[j] !== ")") j += s[j] === "\\" ? 2 : 1;
      if (j >= s.length) throw entityError(`Can't find end of a URL at byte offset ${byteAt(s, i)}`);
      stack.pop();
      i = j + 1;
    } else if (c === ">" && (i === 0 || s[i - 1] === "\n")) {
      i++; // block quotation marker at line start
    } else if ("_*[]()~`>#+-=|{}.!".includes(c)) {
      throw entityError(`Character '${c}' is reserved and must be escaped with the preceding '\\'`);
    } else { out += c; i++; }
  }
  const open = stack.at(-1);
  if (open) throw entityError(`Can't find end of ${names[open.type]} entity at byte offset ${byteAt(s, open.at)}`);
  return out;
}

const HTML_TAGS = new Set(["b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a", "tg-emoji", "code", "pre", "blockquote"]);
function parseHtml(s: string): string {
  const stack: string[] = [];
  let out = "";
  for (let i = 0; i < s.length; ) {
    if (s[i] === "<") {
      const m = /^<(\/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z-]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>"']+))?)*)\s*>/.exec(s.slice(i));
      if (!m) throw entityError(`Unsupported start tag "${/^<\/?([^\s>]*)/.exec(s.slice(i))?.[1] ?? ""}" at byte offset ${byteAt(s, i)}`);
      const name = m[2]!.toLowerCase();
      if (m[1]) {
        if (stack.length === 0) throw entityError(`Unexpected end tag at byte offset ${byteAt(s, i)}`);
        const top = stack.pop()!;
        if (top !== name) throw entityError(`Unmatched end tag at byte offset ${byteAt(s, i)}, expected "</${top}>", found "</${name}>"`);
      } else {
        if (!HTML_TAGS.has(name)) throw entityError(`Unsupported start tag "${name}" at byte offset ${byteAt(s, i)}`);
        stack.push(name);
      }
      i += m[0].length;
    } else if (s[i] === "&") {
      const m = /^&(#\d+|#x[0-9a-fA-F]+|lt|gt|amp|quot);/.exec(s.slice(i));
      if (!m) { out += "&"; i++; continue; }
      const e = m[1]!;
      out += e === "lt" ? "<" : e === "gt" ? ">" : e === "amp" ? "&" : e === "quot" ? '"'
        : String.fromCodePoint(e[1] === "x" ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
      i += m[0].length;
    } else { out += s[i]; i++; }
  }
  if (stack.length) throw entityError(`Can't find end tag corresponding to start tag "${stack.at(-1)}"`);
  return out;
}

/** Legacy `Markdown`: *bold* _italic_ `code` ```pre``` [text](url); `\` escapes only _*`[ . */
function parseMarkdown(s: string): string {
  let out = "";
  for (let i = 0; i < s.length; ) {
    const c = s[i]!;
    if (c === "\\" && "_*`[".includes(s[i + 1] ?? "")) { out += s[i + 1]; i += 2; continue; }
    const delim = c === "`" && s.startsWith("```", i) ? "```" : "*_`".includes(c) ? c : c === "[" ? "]" : undefined;
    if (!delim) { out += c; i++; continue; }
    const end = s.indexOf(delim, i + (c === "[" ? 1 : delim.length));
    if (end < 0) throw entityError(`Can't find end of the entity starting at byte offset ${byteAt(s, i)}`);
    out += s.slice(i + (c === "[" ? 1 : delim.length), end);
    i = end + delim.length;
    if (c === "[" && s[i] === "(") { const close = s.indexOf(")", i); i = close < 0 ? i : close + 1; }
  }
  return out;
}

/** Plain text after parse_mode, validated against `max` (UTF-16 units, as Telegram counts entity offsets). */
function formatted(text: unknown, parseMode: unknown, max: number, field: "text" | "caption", allowEmpty = false): string {
  const raw = text === undefined ? "" : String(text);
  const plain = parseMode === undefined || parseMode === "" ? raw
    : parseMode === "MarkdownV2" ? parseMarkdownV2(raw) : parseMode === "HTML" ? parseHtml(raw)
    : parseMode === "Markdown" ? parseMarkdown(raw) : (() => { throw bad("unsupported parse_mode"); })();
  if (!allowEmpty && plain.trim() === "") throw bad(field === "text" ? "message text is empty" : "message caption is empty");
  if (plain.length > max) throw bad(field === "text" ? "message is too long" : "message caption is too long");
  return plain;
}

// ---------------------------------------------------------------------------------------------
// Request bodies: JSON, urlencoded, multipart (grammY sends `content-disposition:form-data;name="x";filename=y`).

interface Upload { field: string; filename?: string; size: number; contentType?: string; data: Buffer }
function parseMultipart(body: Buffer, boundary: string): { fields: Obj; uploads: Upload[] } {
  const fields: Obj = {};
  const uploads: Upload[] = [];
  const delim = Buffer.from(`--${boundary}`);
  let pos = body.indexOf(delim);
  while (pos >= 0) {
    const start = pos + delim.length;
    if (body.subarray(start, start + 2).toString() === "--") break;
    const next = body.indexOf(delim, start);
    if (next < 0) break;
    const part = body.subarray(start + 2, next - 2); // skip CRLF after boundary and before the next one
    const split = part.indexOf("\r\n\r\n");
    const head = part.subarray(0, split).toString("utf8");
    const data = part.subarray(split + 4);
    const param = (k: string) => new RegExp(`${k}=(?:"([^"]*)"|([^;\\r\\n]*))`, "i").exec(head)?.slice(1).find((v) => v !== undefined);
    const name = param("name") ?? "";
    const filename = /filename/i.test(head) ? param("filename") : undefined;
    if (filename !== undefined) uploads.push({ field: name, filename, size: data.length, contentType: /content-type:\s*([^\r\n;]+)/i.exec(head)?.[1], data });
    else fields[name] = data.toString("utf8");
    pos = next;
  }
  return { fields, uploads };
}

async function readParams(req: IncomingMessage, url: URL): Promise<{ params: Obj; uploads: Upload[] }> {
  const params: Obj = Object.fromEntries(url.searchParams);
  let uploads: Upload[] = [];
  const type = String(req.headers["content-type"] ?? "");
  const body = await readBody(req, 60 * 1024 * 1024);
  if (body.length && type.includes("application/json")) {
    let parsed: unknown;
    try { parsed = JSON.parse(body.toString("utf8")); } catch { throw bad("can't parse JSON object"); }
    if (isObject(parsed)) Object.assign(params, parsed);
  } else if (body.length && type.includes("multipart/form-data")) {
    const boundary = /boundary=(?:"([^"]+)"|([^;]+))/.exec(type);
    const mp = parseMultipart(body, (boundary?.[1] ?? boundary?.[2] ?? "").trim());
    Object.assign(params, mp.fields);
    uploads = mp.uploads;
  } else if (body.length) Object.assign(params, Object.fromEntries(new URLSearchParams(body.toString("utf8"))));
  for (const f of JSON_FIELDS) {
    if (typeof params[f] !== "string") continue;
    try { params[f] = JSON.parse(params[f] as string); } catch { throw bad(`can't parse ${f} JSON object`); }
  }
  return { params, uploads };
}

const truthy = (v: unknown) => v === true || v === "true" || v === "1" || v === 1;
const now = () => Math.floor(Date.now() / 1000);

/** Width/height of a PNG (from IHDR) or JPEG (from the first SOF marker); undefined for anything else. */
function imageSize(b: Buffer): { width: number; height: number } | undefined {
  if (b.length > 24 && b.readUInt32BE(0) === 0x89504e47) return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
  if (b[0] !== 0xff || b[1] !== 0xd8) return undefined;
  for (let i = 2; i + 9 < b.length; ) {
    if (b[i] !== 0xff) return undefined;
    const marker = b[i + 1]!;
    if (marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker)) return { width: b.readUInt16BE(i + 7), height: b.readUInt16BE(i + 5) };
    i += 2 + b.readUInt16BE(i + 2);
  }
  return undefined;
}

/**
 * Starts the Telegram Bot API stand-in. Every call gets independent state.
 * @returns the bound port, base URL (use it as grammY `client.apiRoot` / `TELEGRAM_API_ROOT`) and `close()`.
 */
export async function start(options: StartOptions = {}): Promise<StandinHandle> {
  let bots = new Map<string, Bot>();
  let revoked = new Set<string>();
  let fails: Fail[] = [];
  let calls: (RecordedCall & { token: string })[] = [];
  let seq = 0;

  function bot(token: string): Bot {
    let b = bots.get(token);
    if (!b) {
      const id = Number(TOKEN.exec(token)![1]);
      b = { id, token, username: `sp_test_${id}_bot`, firstName: `SoulPrint Test ${id}`, webhook: { url: "", maxConnections: 40 },
        nextUpdateId: 100_000_001, chats: new Map(), lanes: new Map(), files: new Map(), flood: { minIntervalMs: 0, retryAfter: 1, lastAt: new Map() } };
      bots.set(token, b);
    }
    return b;
  }
  const botUser = (b: Bot) => ({ id: b.id, is_bot: true, first_name: b.firstName, username: b.username });
  function chatOf(b: Bot, chatId: unknown): Chat {
    if (chatId === undefined || chatId === "") throw bad("chat_id is empty");
    const key = String(chatId);
    let c = b.chats.get(key);
    if (!c) {
      const id = /^-?\d+$/.test(key) ? Number(key) : key;
      c = { chat: typeof id === "number" && id > 0 ? { id, type: "private" } : { id, type: typeof id === "number" ? "supergroup" : "channel" }, nextMessageId: 1, messages: new Map() };
      b.chats.set(key, c);
    }
    return c;
  }
  function store(b: Bot, c: Chat, fields: Obj): Obj {
    const msg = { message_id: c.nextMessageId++, from: botUser(b), chat: c.chat, date: now(), ...fields };
    c.messages.set(msg.message_id, msg);
    return msg;
  }

  /** The Bot API methods. Returns `result` (+ optional description) or throws TgError. */
  function call(b: Bot, method: string, p: Obj, uploads: Upload[]): { result: unknown; description?: string } {
    switch (method) {
      case "getMe":
        return { result: { ...botUser(b), can_join_groups: true, can_read_all_group_messages: false, supports_inline_queries: false, can_connect_to_business: false, has_main_web_app: false } };
      case "setWebhook": {
        const url = String(p.url ?? "");
        if (url === "") { const had = b.webhook.url !== ""; b.webhook = { url: "", maxConnections: 40 }; return { result: true, description: had ? "Webhook was deleted" : "Webhook is already deleted" }; }
        let u: URL;
        try { u = new URL(url); } catch { throw bad("bad webhook: invalid URL"); }
        // Local extension: plain http is accepted for loopback hosts so tests can receive updates.
        const local = u.protocol === "http:" && ["127.0.0.1", "localhost", "[::1]"].includes(u.hostname);
        if (u.protocol !== "https:" && !local) throw bad("bad webhook: An HTTPS URL must be provided for webhook");
        if (u.protocol === "https:" && !["", "443", "80", "88", "8443"].includes(u.port)) throw bad("bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443");
        const secret = p.secret_token === undefined ? undefined : String(p.secret_token);
        if (secret !== undefined && !/^[A-Za-z0-9_-]{1,256}$/.test(secret)) throw bad("secret token contains unallowed characters");
        const allowed = p.allowed_updates;
        if (allowed !== undefined && (!Array.isArray(allowed) || allowed.some((x) => typeof x !== "string"))) throw bad("can't parse allowed updates: expected an Array of String");
        const maxConnections = Number(p.max_connections ?? 40);
        if (!Number.isInteger(maxConnections) || maxConnections < 1 || maxConnections > 100) throw bad("bad webhook: max_connections must be 1-100");
        const same = b.webhook.url === url && b.webhook.secret === secret;
        b.webhook = { url, secret, maxConnections, allowedUpdates: (allowed as string[] | undefined) ?? b.webhook.allowedUpdates };
        return { result: true, description: same ? "Webhook is already set" : "Webhook was set" };
      }
      case "deleteWebhook": {
        const had = b.webhook.url !== "";
        b.webhook = { url: "", maxConnections: 40 };
        return { result: true, description: had ? "Webhook was deleted" : "Webhook is already deleted" };
      }
      case "getWebhookInfo": {
        const w = b.webhook;
        return { result: { url: w.url, has_custom_certificate: false, pending_update_count: 0, ...(w.url ? { max_connections: w.maxConnections } : {}),
          ...(w.allowedUpdates ? { allowed_updates: w.allowedUpdates } : {}),
          ...(w.lastErrorDate ? { last_error_date: w.lastErrorDate, last_error_message: w.lastErrorMessage } : {}) } };
      }
      case "getUpdates":
        if (b.webhook.url) throw new TgError(409, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first");
        return { result: [] };
      case "getFile": {
        const f = b.files.get(String(p.file_id ?? ""));
        if (!f) throw bad("invalid file_id");
        if (f.data.length > MAX_DOWNLOAD_BYTES) throw bad("file is too big");
        return { result: { file_id: String(p.file_id), file_unique_id: String(p.file_id).slice(-12), file_size: f.data.length, file_path: f.path } };
      }
      case "sendMessage": {
        const c = chatOf(b, p.chat_id);
        return { result: store(b, c, { text: formatted(p.text, p.parse_mode, 4096, "text") }) };
      }
      case "sendMessageDraft": {
        chatOf(b, p.chat_id);
        if (!Number.isInteger(Number(p.draft_id)) || Number(p.draft_id) === 0) throw bad("draft_id must be a non-zero integer");
        formatted(p.text, p.parse_mode, 4096, "text", true);
        return { result: true };
      }
      case "sendChatAction":
        chatOf(b, p.chat_id);
        if (!CHAT_ACTIONS.has(String(p.action))) throw bad("wrong parameter action in request");
        return { result: true };
      case "sendPhoto": {
        const c = chatOf(b, p.chat_id);
        const caption = p.caption === undefined ? undefined : formatted(p.caption, p.parse_mode, 1024, "caption", true);
        const up = uploads.find((u) => p.photo === `attach://${u.field}`) ?? uploads.find((u) => u.field === "photo");
        if (!up && (typeof p.photo !== "string" || p.photo === "")) throw bad("there is no photo in the request");
        let size = { width: 800, height: 600 }; // photo sent by URL or file_id: we don't fetch it
        if (up) {
          if (up.size > 10 * 1024 * 1024) throw bad("file is too big");
          const dim = imageSize(up.data);
          if (!dim) throw bad("IMAGE_PROCESS_FAILED");
          const ratio = Math.max(dim.width, dim.height) / Math.max(1, Math.min(dim.width, dim.height));
          if (dim.width + dim.height > 10_000 || ratio > 20) throw bad("PHOTO_INVALID_DIMENSIONS");
          size = dim;
        }
        const fileId = `AgAC${b.id}_${c.nextMessageId}_${Date.now().toString(36)}`;
        if (up) b.files.set(fileId, { path: `photos/file_${b.files.size}.jpg`, data: up.data });
        const photo = [{ file_id: fileId, file_unique_id: fileId.slice(-12), ...size, ...(up ? { file_size: up.size } : {}) }];
        return { result: store(b, c, { photo, ...(caption ? { caption } : {}) }) };
      }
      case "editMessageText": {
        if (p.inline_message_id !== undefined) return { result: true };
        const c = chatOf(b, p.chat_id);
        const msg = c.messages.get(Number(p.message_id));
        if (!msg || msg.text === undefined) throw bad("message to edit not found");
        const text = formatted(p.text, p.parse_mode, 4096, "text");
        if (text === msg.text && JSON.stringify(p.reply_markup) === JSON.stringify(msg.reply_markup))
          throw bad("message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message");
        Object.assign(msg, { text, edit_date: now(), ...(p.reply_markup ? { reply_markup: p.reply_markup } : {}) });
        return { result: msg };
      }
      case "deleteMessage": {
        const c = chatOf(b, p.chat_id);
        if (!c.messages.delete(Number(p.message_id))) throw bad("message to delete not found");
        return { result: true };
      }
      case "answerCallbackQuery":
        if (!p.callback_query_id) throw bad("query is too old and response timeout expired or query ID is invalid");
        if (p.text !== undefined && String(p.text).length > 200) throw bad("MESSAGE_TOO_LONG");
        return { result: true };
      case "getChat": {
        const c = b.chats.get(String(p.chat_id ?? ""));
        if (!c) throw bad("chat not found");
        return { result: c.chat };
      }
      case "getMyCommands": return { result: [] };
      default: return { result: true }; // setMyCommands, setMyDescription, close, logOut, ...: accepted and recorded
    }
  }

  /** Telegram's flood control for streamed previews, when a test turns it on: one change per interval per chat. */
  function floodCheck(b: Bot, method: string, p: Obj): void {
    if (b.flood.minIntervalMs <= 0 || (method !== "editMessageText" && method !== "sendMessageDraft")) return;
    const chat = String(p.chat_id ?? "");
    const last = b.flood.lastAt.get(chat);
    const at = Date.now();
    if (last !== undefined && at - last < b.flood.minIntervalMs) {
      throw new TgError(429, `Too Many Requests: retry after ${b.flood.retryAfter}`, { retry_after: b.flood.retryAfter });
    }
    b.flood.lastAt.set(chat, at);
  }

  /** Runs one API call with failure injection and recording; returns the Bot API envelope and status. */
  function api(token: string, rawMethod: string, params: Obj, uploads: Upload[], viaWebhookReply = false): { status: number; body: Obj } {
    const b = bot(token);
    const method = CANONICAL.get(rawMethod.toLowerCase());
    const rec: RecordedCall & { token: string } = { seq: ++seq, time: Date.now(), botId: b.id, token, method: method ?? rawMethod, params, ok: false,
      ...(uploads.length ? { files: uploads.map(({ data: _data, ...u }) => u) } : {}), ...(viaWebhookReply ? { viaWebhookReply } : {}) };
    calls.push(rec);
    if (calls.length > 5_000) calls.splice(0, calls.length - 5_000); // bound memory in long dev sessions
    try {
      if (!method) throw new TgError(404, "Not Found");
      const f = fails.find((x) => x.remaining > 0 && (x.method === "*" || x.method.toLowerCase() === method.toLowerCase()) && (x.token === undefined || x.token === token));
      if (f) {
        f.remaining--;
        if (f.errorCode === 429) throw new TgError(429, `Too Many Requests: retry after ${f.retryAfter}`, { retry_after: f.retryAfter });
        throw new TgError(f.errorCode, f.description ?? (f.errorCode >= 500 ? "Internal Server Error" : "Bad Request: injected failure"));
      }
      floodCheck(b, method, params);
      const { result, description } = call(b, method, params, uploads);
      Object.assign(rec, { ok: true, result });
      // Record uploads in place of their attach:// references (or their own field), size only.
      for (const u of uploads) {
        const info = { attached: u.field, filename: u.filename, size: u.size };
        const ref = Object.keys(params).find((k) => params[k] === `attach://${u.field}`);
        params[ref ?? u.field] = info;
      }
      return { status: 200, body: { ok: true, result, ...(description ? { description } : {}) } };
    } catch (e) {
      if (!(e instanceof TgError)) throw e;
      Object.assign(rec, { errorCode: e.code, description: e.message });
      return { status: e.code, body: { ok: false, error_code: e.code, description: e.message, ...(e.parameters ? { parameters: e.parameters } : {}) } };
    }
  }

  /** POSTs an update to the bot's webhook like Telegram: secret header, 60 s timeout, one at a time per chat. */
  async function deliver(b: Bot, update: Obj, timeoutMs = 60_000) {
    const type = UPDATE_TYPES.find((t) => t in update) ?? Object.keys(update).find((k) => k !== "update_id") ?? "unknown";
    if (b.webhook.allowedUpdates?.length && !b.webhook.allowedUpdates.includes(type)) return { status: 0, skipped: `update type ${type} not in allowed_updates` };
    const inner = (update[type] ?? {}) as Obj;
    const chatId = String((inner.chat as Obj)?.id ?? ((inner.message as Obj)?.chat as Obj)?.id ?? (inner.from as Obj)?.id ?? "none");
    const prev = b.lanes.get(chatId) ?? Promise.resolve();
    const run = prev.then(async () => {
      const started = Date.now();
      const { url, secret } = b.webhook;
      try {
        const res = await fetch(url, { method: "POST", body: JSON.stringify(update), signal: AbortSignal.timeout(timeoutMs),
          headers: { "content-type": "application/json", ...(secret ? { "x-telegram-bot-api-secret-token": secret } : {}) } });
        const text = await res.text();
        if (!res.ok) Object.assign(b.webhook, { lastErrorDate: now(), lastErrorMessage: `Wrong response from the webhook: ${res.status} ${res.statusText}` });
        // A webhook reply (`{"method": ...}` in the 200 body) is executed like Telegram does.
        let reply: unknown;
        try { reply = JSON.parse(text); } catch { /* not JSON: ignored, as Telegram does */ }
        if (res.ok && isObject(reply) && typeof reply.method === "string") {
          const { method, ...params } = reply;
          api(b.token, method as string, params, [], true);
        }
        return { status: res.status, body: text, ms: Date.now() - started };
      } catch (e) {
        const msg = (e as Error).name === "TimeoutError" ? "Read timeout expired" : `Connection failed: ${(e as Error).message}`;
        Object.assign(b.webhook, { lastErrorDate: now(), lastErrorMessage: msg });
        return { status: 0, error: msg, ms: Date.now() - started };
      }
    });
    b.lanes.set(chatId, run.catch(() => undefined));
    return run;
  }

  /** A realistic private-chat text message update (bot_command entities for /commands). */
  function buildUpdate(b: Bot, input: Obj): Obj {
    const fromId = Number(input.fromId ?? input.chatId ?? 10_001);
    const chatId = Number(input.chatId ?? fromId);
    const c = chatOf(b, chatId);
    const firstName = String(input.firstName ?? "Tess");
    c.chat = { id: chatId, first_name: firstName, type: "private" };
    const from = { id: fromId, is_bot: false, first_name: firstName, language_code: "en" };
    if (typeof input.photo === "string") return { message: { message_id: c.nextMessageId++, from, chat: c.chat, date: now(), ...photoFields(b, input) } };
    const text = String(input.text ?? "hi");
    const entities = [...text.matchAll(/(?<=^|\s)\/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]+)?/g)].map((m) => ({ offset: m.index, length: m[0].length, type: "bot_command" }));
    const message = { message_id: c.nextMessageId++, from, chat: c.chat, date: now(), text, ...(entities.length ? { entities } : {}) };
    return { message };
  }

  /**
   * A photo message's fields: Telegram sends several sizes of one picture; here a 90 px thumbnail and
   * the full size, both served by getFile and /file/ with the bytes given (base64).
   */
  function photoFields(b: Bot, input: Obj): Obj {
    const data = Buffer.from(String(input.photo), "base64");
    const dim = imageSize(data) ?? { width: 1280, height: 960 };
    const sizes = [{ suffix: "s", width: 90, height: Math.max(1, Math.round((90 * dim.height) / Math.max(1, dim.width))) }, { suffix: "x", ...dim }];
    const photo = sizes.map(({ suffix, width, height }) => {
      const fileId = `AgACph${b.id}_${b.files.size}_${suffix}`;
      b.files.set(fileId, { path: `photos/file_${b.files.size}.jpg`, data });
      return { file_id: fileId, file_unique_id: fileId.slice(-12), width, height, file_size: data.length };
    });
    return { photo, ...(input.caption !== undefined ? { caption: String(input.caption) } : {}) };
  }

  async function control(req: IncomingMessage, res: ServerResponse, url: URL) {
    const raw = req.method === "GET" ? "" : (await readBody(req)).toString("utf8");
    const input = (raw.trim() ? JSON.parse(raw) : {}) as Obj;
    const token = (url.searchParams.get("token") ?? input.token) as string | undefined;
    if (token !== undefined && !TOKEN.test(token)) return sendJson(res, 400, { error: "token must look like <digits>:<35 chars [A-Za-z0-9_-]>" });
    const route = `${req.method} ${url.pathname.slice("/__control".length)}`;
    switch (route) {
      case "POST /deliver": case "POST /deliver-raw": {
        if (!token) return sendJson(res, 400, { error: "token is required" });
        const b = bot(token);
        if (!b.webhook.url) return sendJson(res, 409, { error: "the bot has no webhook set (call setWebhook first)" });
        const update = route === "POST /deliver-raw" ? (input.update as Obj)
          : { ...(isObject(input.update) ? input.update : buildUpdate(b, input)), ...(input.updateId !== undefined ? { update_id: Number(input.updateId) } : {}) };
        if (!isObject(update)) return sendJson(res, 400, { error: "update must be an object" });
        if (route === "POST /deliver") update.update_id ??= b.nextUpdateId;
        if (typeof update.update_id === "number") b.nextUpdateId = Math.max(b.nextUpdateId, update.update_id + 1);
        const callsSeq = seq;
        // dryRun: build the update but let the caller POST it (vitest-pool-workers tests reach the
        // Worker via SELF.fetch, not over a port the stand-in could call).
        if (input.dryRun === true) return sendJson(res, 200, { updateId: update.update_id, update, callsSeq, url: b.webhook.url,
          headers: { "content-type": "application/json", ...(b.webhook.secret ? { "x-telegram-bot-api-secret-token": b.webhook.secret } : {}) } });
        const out = await deliver(b, update, Number(input.timeoutMs ?? 60_000));
        return sendJson(res, 200, { ...out, updateId: update.update_id, update, callsSeq });
      }
      case "POST /fail": {
        if (typeof input.method !== "string") return sendJson(res, 400, { error: "method is required ('*' for any)" });
        fails.push({ token, method: input.method, remaining: Number(input.times ?? 1), retryAfter: Number(input.retryAfter ?? 2),
          errorCode: Number(input.errorCode ?? 429), description: input.description as string | undefined });
        return sendJson(res, 200, { ok: true });
      }
      case "POST /flood": {
        if (!token) return sendJson(res, 400, { error: "token is required" });
        const b = bot(token);
        b.flood = { minIntervalMs: Number(input.minIntervalMs ?? 0), retryAfter: Number(input.retryAfter ?? 1), lastAt: new Map() };
        return sendJson(res, 200, { ok: true });
      }
      case "POST /revoke":
        if (!token) return sendJson(res, 400, { error: "token is required" });
        if (input.revoked === false) revoked.delete(token); else revoked.add(token);
        return sendJson(res, 200, { ok: true });
      case "GET /calls": {
        const method = url.searchParams.get("method")?.toLowerCase();
        const since = Number(url.searchParams.get("since") ?? 0);
        const chatId = url.searchParams.get("chatId");
        const list = calls.filter((c) => (!token || c.token === token) && (!method || c.method.toLowerCase() === method) && c.seq > since
          && (!chatId || String(c.params.chat_id) === chatId));
        return sendJson(res, 200, { calls: list.map(({ token: _t, ...c }) => c) });
      }
      case "GET /bots":
        return sendJson(res, 200, { bots: [...bots.values()].filter((b) => !token || b.token === token).map((b) => ({
          id: b.id, username: b.username, first_name: b.firstName, revoked: revoked.has(b.token), nextUpdateId: b.nextUpdateId,
          calls: calls.filter((c) => c.token === b.token).length,
          webhook: { url: b.webhook.url, has_secret: !!b.webhook.secret, allowed_updates: b.webhook.allowedUpdates, max_connections: b.webhook.maxConnections,
            last_error_date: b.webhook.lastErrorDate, last_error_message: b.webhook.lastErrorMessage } })) });
      case "POST /reset":
        if (token) { bots.delete(token); revoked.delete(token); fails = fails.filter((f) => f.token !== token); calls = calls.filter((c) => c.token !== token); }
        else { bots = new Map(); revoked = new Set(); fails = []; calls = []; }
        return sendJson(res, 200, { ok: true });
    }
    return sendJson(res, 404, { error: `unknown control route ${route}` });
  }

  /** `GET /file/bot<token>/<file_path>`: a file's bytes, for the bot that may fetch it. */
  function download(res: ServerResponse, token: string, path: string) {
    const b = TOKEN.test(token) && !revoked.has(token) ? bots.get(token) : undefined;
    const f = b ? [...b.files.values()].find((x) => x.path === path) : undefined;
    if (!f) return sendJson(res, 404, { ok: false, error_code: 404, description: "Not Found" });
    res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(f.data.length) });
    res.end(f.data);
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? "/", "http://standin");
    if (url.pathname.startsWith("/__control/")) return control(req, res, url);
    const file = /^\/file\/bot([^/]+)\/(.+)$/.exec(url.pathname);
    if (file) return download(res, file[1]!, decodeURIComponent(file[2]!));
    const m = /^\/bot([^/]*)\/([A-Za-z]+)$/.exec(url.pathname);
    const notFound = { ok: false, error_code: 404, description: "Not Found" };
    if (!m || !TOKEN.test(m[1]!)) return sendJson(res, 404, notFound);
    const token = m[1]!;
    if (revoked.has(token) || TOKEN.exec(token)![2]!.startsWith("bad")) return sendJson(res, 401, { ok: false, error_code: 401, description: "Unauthorized" });
    let parsed;
    try { parsed = await readParams(req, url); } catch (e) {
      if (e instanceof TgError) return sendJson(res, e.code, { ok: false, error_code: e.code, description: e.message });
      throw e;
    }
    const out = api(token, m[2]!, parsed.params, parsed.uploads);
    sendJson(res, out.status, out.body);
  }

  return serve(handle, options);
}

/** `say`: deliver one user message through a running stand-in and print the bot's replies. */
async function say(argv: string[]): Promise<void> {
  const f = flags(argv);
  const token = f.get("token"), text = f.get("text"), photoPath = f.get("photo");
  if (!token || (text === undefined && photoPath === undefined)) throw new Error('usage: telegram-standin.ts say --token T (--text "hi" | --photo file.jpg [--text caption]) [--port 9102] [--chat 42]');
  const photo = photoPath === undefined ? undefined : (await import("node:fs/promises")).readFile(photoPath).then((b) => b.toString("base64"));
  const base = `http://${f.get("host") ?? "127.0.0.1"}:${f.get("port") ?? "9102"}`;
  const chatId = f.get("chat") ? Number(f.get("chat")) : undefined;
  const body = photo ? { token, photo: await photo, caption: text, chatId } : { token, text, chatId };
  const r = await fetch(`${base}/__control/deliver`, { method: "POST", body: JSON.stringify(body) });
  const d = (await r.json()) as Obj;
  if (!r.ok) throw new Error(`deliver failed: ${JSON.stringify(d)}`);
  console.log(`→ update ${d.updateId} delivered, webhook answered ${d.status}${d.error ? ` (${d.error})` : ""}`);
  let since = Number(d.callsSeq), lastReplyAt = 0;
  const deadline = Date.now() + 30_000;
  // Print replies as they come; stop 3 s after the last message-like reply, or after 30 s.
  while (Date.now() < deadline && !(lastReplyAt && Date.now() - lastReplyAt > 3_000)) {
    await sleep(300);
    const list = ((await (await fetch(`${base}/__control/calls?token=${encodeURIComponent(token)}&since=${since}`)).json()) as { calls: RecordedCall[] }).calls;
    for (const c of list) {
      since = c.seq;
      const p = c.params;
      const what = c.method === "sendPhoto" ? `[photo ${(p.photo as Obj)?.size ?? p.photo} bytes] ${p.caption ?? ""}`
        : c.method === "sendChatAction" ? `(${p.action})` : p.text !== undefined ? String(p.text) : JSON.stringify(p);
      console.log(`← ${c.method}${c.ok ? "" : ` FAILED ${c.errorCode} ${c.description}`}: ${what}`);
      if (c.method !== "sendChatAction" && c.method !== "sendMessageDraft") lastReplyAt = Date.now();
    }
  }
}

if (isMain(import.meta.url)) {
  if (process.argv[2] === "say") await say(process.argv.slice(3)).catch((e: Error) => { console.error(e.message); process.exit(1); });
  else await runMain("telegram stand-in", start);
}
