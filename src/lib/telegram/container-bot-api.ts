/**
 * The Bot API as the user's container reaches it (API.md, "Telegram through the Worker"): the
 * container holds no bot token, so it sends its Bot API calls to the Worker, which makes them with
 * the user's claimed bot. What the container may do is decided here:
 *
 * - only the methods of `CONTAINER_BOT_METHODS`: talking and editing in the bound chat, plus getMe
 *   and getFile. Everything that would hand the bot's updates to someone else (getUpdates,
 *   setWebhook, deleteWebhook, logOut, close), change the bot as every Telegram user sees it
 *   (setMyName, setMyCommands, ...), or read other chats (forwardMessage and copyMessage name a
 *   `from_chat_id`, getChat, getUserProfilePhotos) is refused with 403;
 * - every chat the call names (`chat_id`, `reply_parameters.chat_id`) must be the chat bound to the
 *   user; `inline_message_id` and `business_connection_id` (messages outside that chat) are refused;
 * - the body Telegram receives is re-encoded from what was checked (JSON re-serialised, multipart
 *   rebuilt from its parsed parts), so a duplicate key or an odd multipart framing cannot make
 *   Telegram read another chat_id than the one checked here.
 *
 * The answer is Telegram's own, status and body unchanged (a 429's `retry_after` included), so the
 * container's Bot API client behaves as it would against Telegram.
 */
import { HttpError, UnreachableError, describeError } from "../errors.ts";

/** A file part may be a photo or a document: Telegram takes uploads up to 10 / 50 MB; 20 MB is our cap. */
export const MAX_CONTAINER_BOT_BODY_BYTES = 20 * 1024 * 1024;

/** How long one Bot API call may take (an upload of 20 MB included). */
const CALL_TIMEOUT_MS = 60_000;

const METHOD_NAME = /^[A-Za-z]{1,64}$/;

/** Methods that need no chat: the bot's own identity, and a file's path (file ids are per bot). */
const CHATLESS_METHODS = ["getMe", "getFile"] as const;

/** Methods that act in one chat, which must be the bound chat. */
const CHAT_METHODS = [
  "sendMessage", "sendMessageDraft", "sendPhoto", "sendDocument", "sendAudio", "sendVoice", "sendVideo", "sendAnimation",
  "sendVideoNote", "sendSticker", "sendMediaGroup", "sendLocation", "sendVenue", "sendContact", "sendPoll", "sendDice",
  "sendChatAction", "editMessageText", "editMessageCaption", "editMessageMedia", "editMessageReplyMarkup",
  "deleteMessage", "deleteMessages", "setMessageReaction",
] as const;

/** Bot API method names are case-insensitive: `GETUPDATES` is getUpdates, so the check is too. */
const CANONICAL = new Map<string, string>([...CHATLESS_METHODS, ...CHAT_METHODS].map((m) => [m.toLowerCase(), m]));
const NEEDS_CHAT = new Set<string>(CHAT_METHODS);

/** What the Worker hands the object: the method (already allowed) and the body as received. */
export interface ContainerBotCall {
  method: string;
  contentType: string;
  body: Uint8Array;
}

/** The Bot API's answer: its status and body text as Telegram sent them, and the body parsed. */
export interface BotApiAnswer {
  status: number;
  text: string;
  body: BotApiBody;
}

/** What crosses back to the Worker: the status and the body text, passed on byte for byte. */
export type BotApiReply = Pick<BotApiAnswer, "status" | "text">;

export type BotApiBody =
  | { ok: true; result: unknown; description?: string }
  | { ok: false; error_code: number; description: string; parameters?: { retry_after?: number; migrate_to_chat_id?: number } };

/** A parsed call: its parameters (for the checks and the history) and the body to send on. */
export interface ParsedBotCall {
  method: string;
  params: Record<string, unknown>;
  body: { kind: "none" } | { kind: "json"; text: string } | { kind: "form"; form: FormData };
}

/** The method's canonical name, or an HttpError: 400 for a malformed name, 403 for one not allowed. */
export function allowedContainerMethod(name: string): string {
  if (!METHOD_NAME.test(name)) throw new HttpError(400, "invalid_method", "A Bot API method name is 1 to 64 letters.");
  const method = CANONICAL.get(name.toLowerCase());
  if (!method) throw new HttpError(403, "method_not_allowed", `${name} is not open to the container: it may send and edit messages in the bound chat, and call getMe and getFile.`);
  return method;
}

/** Refuses a body the Bot API route cannot read before it is buffered (415). */
export function assertSupportedBody(contentType: string): void {
  if (contentType === "" || /^(application\/json|multipart\/form-data|application\/x-www-form-urlencoded)\b/i.test(contentType.trim())) return;
  throw new HttpError(415, "unsupported_media_type", "Send the Bot API parameters as JSON, multipart/form-data or a urlencoded form.");
}

/** Parses the body as Telegram would read it: JSON, multipart (file parts kept as files), a urlencoded form, or nothing. */
export async function parseBotCall(call: ContainerBotCall): Promise<ParsedBotCall> {
  const type = call.contentType.trim().toLowerCase();
  if (call.body.byteLength === 0) return { method: call.method, params: {}, body: { kind: "none" } };
  if (type.startsWith("application/json")) {
    let value: unknown;
    try {
      value = JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(call.body));
    } catch {
      throw new HttpError(400, "invalid_json", "Bad Request: can't parse JSON object");
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) throw new HttpError(400, "invalid_json", "Bad Request: the parameters must be a JSON object");
    const params = value as Record<string, unknown>;
    return { method: call.method, params, body: { kind: "json", text: JSON.stringify(params) } };
  }
  let form: FormData;
  try {
    form = await new Response(call.body, { headers: { "content-type": call.contentType } }).formData();
  } catch {
    throw new HttpError(400, "invalid_form", "Bad Request: the form body could not be parsed");
  }
  const params: Record<string, unknown> = {};
  const out = new FormData();
  for (const [name, value] of form.entries()) {
    // One value per parameter: with two chat_id parts, which one Telegram reads is not ours to guess.
    if (name in params) throw new HttpError(400, "duplicate_parameter", `Bad Request: the parameter ${name} is given twice`);
    params[name] = typeof value === "string" ? value : { file: value.name, size: value.size };
    out.append(name, value);
  }
  return { method: call.method, params, body: { kind: "form", form: out } };
}

/**
 * Every chat the call names must be `ownerChatId`: 403 `chat_not_allowed` otherwise (no bound chat
 * means no chat is allowed). Methods without a chat (getMe, getFile) pass.
 */
export function assertBoundChat(call: ParsedBotCall, ownerChatId: number | null): void {
  if (!NEEDS_CHAT.has(call.method)) return;
  const refuse = (why: string) => new HttpError(403, "chat_not_allowed", `Forbidden: ${why}`);
  if (ownerChatId === null) throw refuse("no Telegram chat is bound to this user yet");
  if (call.params.inline_message_id !== undefined) throw refuse("inline messages are outside the bound chat");
  if (call.params.business_connection_id !== undefined) throw refuse("business connections are outside the bound chat");
  if (!sameChat(call.params.chat_id, ownerChatId)) throw refuse("chat_id must be the chat bound to this user");
  const replyTo = jsonParam(call.params.reply_parameters);
  if (replyTo && typeof replyTo === "object" && "chat_id" in replyTo && !sameChat((replyTo as { chat_id: unknown }).chat_id, ownerChatId)) {
    throw refuse("reply_parameters.chat_id must be the chat bound to this user");
  }
}

/** `chat_id` as JSON gives it (a number) or a form gives it (a string of digits). */
function sameChat(value: unknown, ownerChatId: number): boolean {
  if (typeof value === "number") return value === ownerChatId;
  return typeof value === "string" && /^-?\d{1,20}$/.test(value) && value === String(ownerChatId);
}

/** A form sends nested parameters as JSON strings; JSON bodies send them as they are. */
function jsonParam(value: unknown): unknown {
  if (typeof value !== "string") return value;
  try {
    return JSON.parse(value);
  } catch {
    return undefined;
  }
}

/** Makes the call with the bot's token and returns Telegram's answer unchanged (no retry: a 429 is the container's to honour). */
export async function callBotApi(apiRoot: string, token: string, call: ParsedBotCall, fetcher: typeof fetch = fetch): Promise<BotApiAnswer> {
  const init: RequestInit = { method: "POST", signal: AbortSignal.timeout(CALL_TIMEOUT_MS) };
  if (call.body.kind === "json") Object.assign(init, { body: call.body.text, headers: { "content-type": "application/json" } });
  else if (call.body.kind === "form") init.body = call.body.form;
  let response: Response;
  let text: string;
  try {
    response = await fetcher(`${apiRoot.replace(/\/+$/, "")}/bot${token}/${call.method}`, init);
    text = await response.text();
  } catch (error) {
    // A fresh error: the runtime's may name the URL, and the URL holds the token.
    const timedOut = error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError");
    throw new UnreachableError("telegram", "Telegram could not be reached.", timedOut);
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = null;
  }
  if (!isBotApiBody(body)) {
    const refused: BotApiBody = { ok: false, error_code: 502, description: `Bad Gateway: Telegram answered ${response.status} without a Bot API body` };
    return { status: 502, text: JSON.stringify(refused), body: refused };
  }
  return { status: response.status, text, body };
}

function isBotApiBody(value: unknown): value is BotApiBody {
  if (typeof value !== "object" || value === null) return false;
  const v = value as { ok?: unknown; error_code?: unknown; description?: unknown };
  return v.ok === true || (v.ok === false && typeof v.error_code === "number" && typeof v.description === "string");
}

/**
 * Our own refusals in the Bot API's shape, so the container's client reads them like Telegram's:
 * `description` starts with our error code (`chat_not_allowed: ...`); a rate limit carries
 * `parameters.retry_after` like Telegram's 429.
 */
export function botApiErrorResponse(error: unknown): Response {
  const info = describeError(error);
  const retryAfter = Number(info.headers?.["retry-after"]);
  const body: BotApiBody = {
    ok: false,
    error_code: info.status,
    description: `${info.code}: ${info.message}`,
    ...(Number.isFinite(retryAfter) && retryAfter > 0 ? { parameters: { retry_after: retryAfter } } : {}),
  };
  return new Response(JSON.stringify(body), { status: info.status, headers: { "content-type": "application/json; charset=utf-8", ...info.headers } });
}
