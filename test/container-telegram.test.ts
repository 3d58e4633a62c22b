/**
 * Issue 13, item 2: the container's Telegram goes through the Worker. `POST
 * /api/container/telegram/:method` makes the Bot API call with the user's claimed bot (the container
 * has no token), for the bound chat only, and what the container sends lands in the user's history
 * next to the update it answers.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { env } from "cloudflare:workers";
import { listDurableObjectIds, runDurableObjectAlarm } from "cloudflare:test";
import { mintGatewayToken } from "../src/lib/gateway-token.ts";
import { api, apiJson, newUser } from "./helpers.ts";
import { control, driveUntil, flyUser, withFly, type FlyUser } from "./fly-helpers.ts";
import { botToken, buildUpdate, calls, connect as connectBot, failNext, flood, say, waitFor } from "./telegram-helpers.ts";
import { MAX_CONTAINER_FILE_BYTES } from "../src/lib/telegram/container-bot-file.ts";
import { MAX_HOLD_MS } from "../src/lib/telegram/container-pacing.ts";
import { connect as connectSocket } from "./ws-client.ts";

interface BotAnswer {
  ok: boolean;
  result?: { message_id: number; text?: string; caption?: string; chat: { id: number }; photo?: unknown[] };
  error_code?: number;
  description?: string;
  parameters?: { retry_after?: number };
}

interface StoredMessage {
  id: string;
  role: string;
  text: string;
  channel: string;
  via?: string;
  replyTo?: string;
  status?: string;
}

let nextChat = 7_100;

/** A paid user with a claimed bot bound to a chat, and a ready container. */
async function containerUser(options: { bot?: boolean } = {}): Promise<FlyUser & { token: string; chatId: number; gateway: string }> {
  const user = await flyUser("paid");
  const token = botToken();
  const chatId = nextChat++;
  if (options.bot !== false) await connectBot(user, token, chatId);
  await withFly(user, (fly) => fly.provision());
  await driveUntil(user, (s) => s.state === "ready");
  const gateway = (await withFly(user, (fly) => fly.gatewayToken()))!;
  return { ...user, token, chatId, gateway };
}

function botCall(gateway: string, method: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
  const init: RequestInit = { method: "POST", headers: { authorization: `Bearer ${gateway}`, ...headers } };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.body = JSON.stringify(body);
    (init.headers as Record<string, string>)["content-type"] = "application/json";
  }
  return api(`/api/container/telegram/${method}`, init);
}

async function botJson(gateway: string, method: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: BotAnswer }> {
  const response = await botCall(gateway, method, body, headers);
  return { status: response.status, body: (await response.json()) as BotAnswer };
}

/** Delivers a Telegram message from the owner and waits until the container has it. */
async function forward(user: FlyUser & { token: string; chatId: number }, text: string): Promise<number> {
  const delivery = await say(user.token, { text, chatId: user.chatId });
  await waitFor(async () => {
    await runDurableObjectAlarm(user.stub);
    const app = await control<{ requests: { path: string; body?: { update_id?: number } }[] }>(`apps/${user.app}/requests`);
    return app.requests.some((r) => r.path === "/telegram-webhook" && r.body?.update_id === delivery.updateId) || undefined;
  }, 10_000, "the update to reach the container");
  return delivery.updateId;
}

async function history(user: FlyUser): Promise<StoredMessage[]> {
  return (await apiJson<{ messages: StoredMessage[] }>("/api/chat/history?limit=200", { headers: user.auth })).body.messages;
}

/** A 2×2 PNG's signature and IHDR: enough for the stand-in to read its size. */
function tinyPng(): Uint8Array {
  const bytes = new Uint8Array(40);
  bytes.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52, 0, 0, 0, 2, 0, 0, 0, 2, 8, 6, 0, 0, 0]);
  return bytes;
}

function randomUserId(): string {
  return [...crypto.getRandomValues(new Uint8Array(10))].map((b) => b.toString(16).padStart(2, "0")).join("");
}

describe("the container's Bot API calls through the Worker", () => {
  it("sends to the bound chat with the user's bot, stores the reply next to the forwarded update, and edits it in place", async () => {
    const user = await containerUser();
    const socket = (await connectSocket(user)).socket!;
    const updateId = await forward(user, "what's the weather?");
    const userFrame = await socket.next((f) => f.type === "user" && f.id === `tg-${updateId}`);
    expect(userFrame).toMatchObject({ text: "what's the weather?", channel: "telegram" });

    const sent = await botJson(user.gateway, "sendMessage", { chat_id: user.chatId, text: "Sunny, from the container." });
    expect(sent.status).toBe(200);
    expect(sent.body).toMatchObject({ ok: true, result: { text: "Sunny, from the container.", chat: { id: user.chatId } } });
    const onTelegram = (await calls(user.token, "sendMessage", user.chatId)).filter((c) => c.ok).map((c) => c.result?.text);
    expect(onTelegram.at(-1)).toBe("Sunny, from the container.");

    // A second message to the same update joins the same reply; an edit rewrites its part.
    const second = await botJson(user.gateway, "sendMessage", { chat_id: String(user.chatId), text: "Bring a hat." });
    expect(second.body.ok).toBe(true);
    const edited = await botJson(user.gateway, "editMessageText", { chat_id: user.chatId, message_id: second.body.result!.message_id, text: "Bring a hat and water." });
    expect(edited.body).toMatchObject({ ok: true, result: { text: "Bring a hat and water." } });

    const messages = await history(user);
    const asked = messages.findIndex((m) => m.id === `tg-${updateId}`);
    expect(messages[asked]).toMatchObject({ role: "user", channel: "telegram", text: "what's the weather?" });
    const replies = messages.filter((m) => m.replyTo === `tg-${updateId}`);
    expect(replies).toHaveLength(1);
    expect(replies[0]).toMatchObject({ role: "assistant", channel: "telegram", via: "container", status: "done", text: "Sunny, from the container.\n\nBring a hat and water." });
    expect(messages[asked + 1]?.id).toBe(replies[0]!.id);

    // Open tabs saw it: the last frames carry the whole reply, keyed to the update.
    const done = await socket.next((f) => f.type === "done" && f.id === `tg-${updateId}`);
    expect(done).toMatchObject({ via: "container", messageId: replies[0]!.id });
    const deltas = socket.frames.filter((f) => f.type === "delta" && f.id === `tg-${updateId}`);
    expect(deltas.at(-1)).toMatchObject({ text: "Sunny, from the container.\n\nBring a hat and water." });
    socket.close();

    // The next forwarded update gets a reply of its own.
    const next = await forward(user, "and tomorrow?");
    await botJson(user.gateway, "sendMessage", { chat_id: user.chatId, text: "Rain." });
    const after = await history(user);
    expect(after.filter((m) => m.replyTo === `tg-${next}`).map((m) => m.text)).toEqual(["Rain."]);
    expect(after.find((m) => m.replyTo === `tg-${updateId}`)?.text).toBe("Sunny, from the container.\n\nBring a hat and water.");
  });

  it("passes a multipart sendPhoto through with its file and stores it", async () => {
    const user = await containerUser();
    const updateId = await forward(user, "draw me something");
    const form = new FormData();
    form.append("chat_id", String(user.chatId));
    form.append("caption", "A tiny picture");
    form.append("photo", new File([tinyPng()], "tiny.png", { type: "image/png" }));
    const { status, body } = await botJson(user.gateway, "sendPhoto", form);
    expect(status).toBe(200);
    expect(body).toMatchObject({ ok: true, result: { caption: "A tiny picture", chat: { id: user.chatId } } });
    expect(body.result?.photo).toBeDefined();
    const call = (await calls(user.token, "sendPhoto", user.chatId)).at(-1)!;
    expect(call.ok).toBe(true);
    expect(call.files).toEqual([expect.objectContaining({ field: "photo", size: tinyPng().byteLength })]);
    const reply = (await history(user)).find((m) => m.replyTo === `tg-${updateId}`);
    expect(reply).toMatchObject({ via: "container", text: "[photo] A tiny picture" });
  });

  it("refuses any other chat with 403 chat_not_allowed and sends nothing", async () => {
    const user = await containerUser();
    const before = (await calls(user.token)).length;
    const attempts: [string, unknown][] = [
      ["sendMessage", { chat_id: user.chatId + 1, text: "to a stranger" }],
      ["sendMessage", { chat_id: `@somechannel`, text: "to a channel" }],
      ["sendMessage", { text: "no chat at all" }],
      ["sendMessage", { chat_id: user.chatId, text: "quoting elsewhere", reply_parameters: { chat_id: user.chatId + 1, message_id: 1 } }],
      ["sendMessage", { chat_id: user.chatId, business_connection_id: "abc", text: "as a business" }],
      ["editMessageText", { inline_message_id: "abc", text: "inline" }],
      ["sendChatAction", { chat_id: -100_123, action: "typing" }],
    ];
    for (const [method, body] of attempts) {
      const answer = await botJson(user.gateway, method, body);
      expect(answer.status, JSON.stringify(body)).toBe(403);
      expect(answer.body).toMatchObject({ ok: false, error_code: 403 });
      expect(answer.body.description).toMatch(/^chat_not_allowed: /);
    }
    const form = new FormData();
    form.append("chat_id", String(user.chatId + 1));
    form.append("photo", new File([tinyPng()], "x.png", { type: "image/png" }));
    expect((await botCall(user.gateway, "sendPhoto", form)).status).toBe(403);
    // Two chat_id parts: which one Telegram would read is not guessed.
    const twice = new FormData();
    twice.append("chat_id", String(user.chatId));
    twice.append("chat_id", String(user.chatId + 1));
    twice.append("text", "x");
    expect((await botCall(user.gateway, "sendMessage", twice)).status).toBe(400);
    expect((await calls(user.token)).length).toBe(before);
  });

  it("refuses methods that would hand over or change the bot with 403, before anything reaches Telegram", async () => {
    const user = await containerUser();
    const before = (await calls(user.token)).length;
    for (const method of ["getUpdates", "GETUPDATES", "setWebhook", "deleteWebhook", "getWebhookInfo", "logOut", "close", "setMyName", "setMyCommands", "forwardMessage", "copyMessage", "getChat", "banChatMember"]) {
      const answer = await botJson(user.gateway, method, { chat_id: user.chatId, url: "https://evil.example/hook" });
      expect(answer.status, method).toBe(403);
      expect(answer.body.description).toMatch(/^method_not_allowed: /);
    }
    expect((await botCall(user.gateway, "send_message", { chat_id: user.chatId, text: "x" })).status).toBe(400);
    expect((await botCall(user.gateway, "a".repeat(65), {})).status).toBe(400);
    expect((await calls(user.token)).length).toBe(before);
    // getMe needs no chat, and never shows the token.
    const me = await botCall(user.gateway, "getMe");
    const text = await me.text();
    expect(me.status).toBe(200);
    expect(JSON.parse(text)).toMatchObject({ ok: true, result: { is_bot: true } });
    expect(text).not.toContain(user.token.split(":")[1]);
  });

  it("answers 409 when the user has no claimed bot", async () => {
    const user = await containerUser({ bot: false });
    const answer = await botJson(user.gateway, "sendMessage", { chat_id: 1, text: "anyone?" });
    expect(answer.status).toBe(409);
    expect(answer.body).toMatchObject({ ok: false, error_code: 409 });
    expect(answer.body.description).toMatch(/^no_bot: /);
  });

  it("passes Telegram's 429 with retry_after through unchanged, without retrying it", async () => {
    const user = await containerUser();
    await failNext(user.token, "sendMessage", { errorCode: 429, retryAfter: 7 });
    const before = (await calls(user.token, "sendMessage")).length;
    const answer = await botJson(user.gateway, "sendMessage", { chat_id: user.chatId, text: "too fast" });
    expect(answer.status).toBe(429);
    expect(answer.body).toEqual({ ok: false, error_code: 429, description: "Too Many Requests: retry after 7", parameters: { retry_after: 7 } });
    expect((await calls(user.token, "sendMessage")).length).toBe(before + 1);
  });

  it("refuses a body over 20 MB with 413 and an unknown body type with 415", async () => {
    const user = await containerUser();
    const huge = await api("/api/container/telegram/sendDocument", { method: "POST", headers: { authorization: `Bearer ${user.gateway}`, "content-type": "multipart/form-data; boundary=x" }, body: new Uint8Array(20 * 1024 * 1024 + 1) });
    expect(huge.status).toBe(413);
    expect(((await huge.json()) as BotAnswer).ok).toBe(false);
    const xml = await botCall(user.gateway, "sendMessage", undefined, { "content-type": "application/xml" });
    expect(xml.status).toBe(415);
  });

  it("refuses a forged token or another user's with 401, creating no object and sending nothing", async () => {
    const user = await containerUser();
    const before = (await calls(user.token)).length;
    const victim = randomUserId();
    const forged = [`gw1.${victim}.1.${"A".repeat(43)}`, "not-a-token", `gw1.${user.userId}.1.${"A".repeat(43)}`];
    for (const token of forged) {
      const answer = await botJson(token, "sendMessage", { chat_id: user.chatId, text: "hijack" }, { "x-soulprint-user": token.includes(victim) ? victim : user.userId });
      expect(answer.status).toBe(401);
      expect(answer.body).toMatchObject({ ok: false, error_code: 401 });
    }
    expect((await listDurableObjectIds(env.USER_ACTOR)).some((id) => id.equals(env.USER_ACTOR.idFromName(victim)))).toBe(false);

    // Another user's real token acts for that user alone: naming this user is refused, and without
    // the header it reaches the other user's (bot-less) account, never this bot.
    const other = await containerUser({ bot: false });
    expect((await botCall(other.gateway, "sendMessage", { chat_id: user.chatId, text: "hijack" }, { "x-soulprint-user": user.userId })).status).toBe(401);
    expect((await botCall(other.gateway, "sendMessage", { chat_id: user.chatId, text: "hijack" })).status).toBe(409);
    // A token with a valid HMAC for an epoch this object did not issue last is revoked.
    const stale = await mintGatewayToken(env, user.userId, 1);
    expect((await botCall(stale, "sendMessage", { chat_id: user.chatId, text: "hijack" })).status).toBe(401);
    // A user's sign-in token is not a gateway token.
    const signedIn = await newUser();
    expect((await botCall(signedIn.token, "sendMessage", { chat_id: user.chatId, text: "hijack" })).status).toBe(401);
    expect((await calls(user.token)).length).toBe(before);
  });
});

afterEach(() => vi.restoreAllMocks());

/** Every console line the Worker and the object write meanwhile (they run in this isolate). */
function captureLogs(): string[] {
  const lines: string[] = [];
  for (const method of ["log", "warn", "error", "info", "debug"] as const) {
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => void lines.push(args.map(String).join(" ")));
  }
  return lines;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function fileGet(gateway: string | null, path: string, headers: Record<string, string> = {}): Promise<Response> {
  return api(`/api/container/telegram/file/${path}`, { headers: { ...(gateway ? { authorization: `Bearer ${gateway}` } : {}), ...headers } });
}

/** A photo the owner sends (built by the stand-in, which then serves it to its bot), and its getFile path through the Worker. */
async function photoPath(user: FlyUser & { token: string; chatId: number; gateway: string }, bytes: Uint8Array): Promise<string> {
  const built = await buildUpdate(user.token, { chatId: user.chatId, photo: btoa(Array.from(bytes, (b) => String.fromCharCode(b)).join("")) });
  const sizes = (built.update.message as { photo: { file_id: string }[] }).photo;
  const got = await botJson(user.gateway, "getFile", { file_id: sizes.at(-1)!.file_id });
  expect(got.status).toBe(200);
  return (got.body.result as unknown as { file_path: string }).file_path;
}

describe("the container's file downloads through the Worker (issue 18)", () => {
  it("serves a file of the user's own bot to its gateway token only, refuses odd paths and big files, and never shows the token", async () => {
    const logs = captureLogs();
    const user = await containerUser();
    const photo = tinyPng();
    const path = await photoPath(user, photo);
    expect(path).toMatch(/^photos\//);
    const seen: string[] = [];
    const keep = async (response: Response) => {
      const text = await response.clone().text();
      seen.push(JSON.stringify([...response.headers]), text);
      return response;
    };

    const got = await keep(await fileGet(user.gateway, path));
    expect(got.status).toBe(200);
    expect(new Uint8Array(await got.arrayBuffer())).toEqual(photo);

    // No token, a forged one, or a token naming another user: 401 before any object wakes.
    expect((await keep(await fileGet(null, path))).status).toBe(401);
    expect((await keep(await fileGet(`gw1.${user.userId}.1.${"A".repeat(43)}`, path))).status).toBe(401);
    // Another user's container asks for this path: its own bot has no such file.
    const other = await containerUser();
    const foreign = await keep(await fileGet(other.gateway, path));
    expect(foreign.status).toBe(404);
    expect(await foreign.json()).toMatchObject({ ok: false, error_code: 404 });
    expect((await keep(await fileGet(other.gateway, path, { "x-soulprint-user": user.userId }))).status).toBe(401);
    // A user without a bot: 409, as on the Bot API route.
    const botless = await containerUser({ bot: false });
    expect((await keep(await fileGet(botless.gateway, path))).status).toBe(409);

    // Paths that could climb out of /file/bot<token>/: refused before anything reaches Telegram.
    const before = (await calls(user.token)).length;
    for (const bad of [".hidden", "photos/.x", "photos/a%2Fb", "photos/a%00b", "photos/a%20b", "a/b/c/d/e", "photos//x"]) {
      const answer = await keep(await fileGet(user.gateway, bad));
      expect(answer.status, bad).toBe(400);
      expect(await answer.json()).toMatchObject({ ok: false, error_code: 400 });
    }
    // Dot segments (plain or escaped) are resolved by URL parsing before any route: they land
    // outside the file route (here on the POST-only Bot API route) and are refused there.
    for (const climb of ["photos/%2e%2e/%2e%2e/getMe", "photos/../../sendMessage"]) {
      expect((await keep(await fileGet(user.gateway, climb))).status, climb).toBe(405);
    }
    expect((await calls(user.token)).length).toBe(before);

    // Over the cap: Telegram would serve it (bots may download 20 MB), the Worker refuses with 413.
    const big = new Uint8Array(MAX_CONTAINER_FILE_BYTES + 1);
    big.set(tinyPng());
    const bigPath = await photoPath(user, big);
    const tooBig = await keep(await fileGet(user.gateway, bigPath));
    expect(tooBig.status).toBe(413);
    expect(await tooBig.json()).toMatchObject({ ok: false, error_code: 413 });

    // The bot's token is in no answer and no log line (nor its secret half alone).
    const secret = user.token.split(":")[1]!;
    for (const text of [...seen, ...logs]) {
      expect(text).not.toContain(secret);
    }
    expect(logs.length + seen.length).toBeGreaterThan(0);
  }, 60_000);
});

describe("the container's streamed previews, paced by the Worker (issue 18)", () => {
  it("holds an edit through Telegram's 429, coalesces the edits that came meanwhile, and ends with the newest text in chat and history", async () => {
    const user = await containerUser();
    const updateId = await forward(user, "tell me about owls");
    const preview = await botJson(user.gateway, "sendMessage", { chat_id: user.chatId, text: "Owls" });
    expect(preview.status).toBe(200);
    const messageId = preview.body.result!.message_id;
    const edit = (text: string) => botJson(user.gateway, "editMessageText", { chat_id: user.chatId, message_id: messageId, text });
    const editsOnTelegram = async () => (await calls(user.token, "editMessageText", user.chatId)).filter((c) => c.params.message_id === messageId);

    await failNext(user.token, "editMessageText", { errorCode: 429, retryAfter: 2 });
    const texts = ["Owls hunt", "Owls hunt at night", "Owls hunt at night and sleep", "Owls hunt at night and sleep by day."];
    const answers = [edit(texts[0]!)];
    // The first edit reached Telegram (after the pace's second) and was refused: the Worker holds it.
    await waitFor(async () => ((await editsOnTelegram()).length > 0) || undefined, 10_000, "the first edit to reach Telegram");
    for (const text of texts.slice(1)) {
      answers.push(edit(text));
      await sleep(50);
    }
    const answered = await Promise.all(answers);
    // The container saw no 429: every call was answered ok, with the message as it now reads.
    for (const a of answered) {
      expect(a.status).toBe(200);
      expect(a.body).toMatchObject({ ok: true, result: { message_id: messageId, text: texts.at(-1) } });
    }
    const made = await editsOnTelegram();
    // The refused edit, then ONE edit carrying the newest text: the three that came meanwhile coalesced.
    expect(made.map((c) => [c.ok, c.params.text])).toEqual([[false, texts[0]], [true, texts.at(-1)]]);
    expect(made[1]!.time - made[0]!.time).toBeGreaterThanOrEqual(1_990);
    // The pace: the first edit waited its second after the preview's send.
    const sent = (await calls(user.token, "sendMessage", user.chatId)).find((c) => c.result?.message_id === messageId)!;
    expect(made[0]!.time - sent.time).toBeGreaterThanOrEqual(990);

    // Edits one after another keep a second apart, even against Telegram's own flood control.
    await flood(user.token, 900, 1);
    for (const text of ["Owls hunt at night and sleep by day. Their", "Owls hunt at night and sleep by day. Their feathers are silent."]) {
      expect((await edit(text)).body.ok).toBe(true);
    }
    await flood(user.token, 0);
    const all = await editsOnTelegram();
    const paced = all.slice(-3);
    expect(paced.every((c) => c.ok)).toBe(true);
    for (let i = 1; i < paced.length; i++) expect(paced[i]!.time - paced[i - 1]!.time).toBeGreaterThanOrEqual(990);

    // What the chat shows is what history holds.
    const final = "Owls hunt at night and sleep by day. Their feathers are silent.";
    expect(all.at(-1)!.params.text).toBe(final);
    const reply = (await history(user)).filter((m) => m.replyTo === `tg-${updateId}`);
    expect(reply.map((m) => m.text)).toEqual([final]);
  }, 60_000);

  it("passes a 429 whose retry_after is longer than it may hold straight back to the container", async () => {
    const user = await containerUser();
    const preview = await botJson(user.gateway, "sendMessage", { chat_id: user.chatId, text: "Hello" });
    const retryAfter = Math.ceil(MAX_HOLD_MS / 1000) + 5;
    await failNext(user.token, "editMessageText", { errorCode: 429, retryAfter });
    const answer = await botJson(user.gateway, "editMessageText", { chat_id: user.chatId, message_id: preview.body.result!.message_id, text: "Hello there" });
    expect(answer.status).toBe(429);
    expect(answer.body).toEqual({ ok: false, error_code: 429, description: `Too Many Requests: retry after ${retryAfter}`, parameters: { retry_after: retryAfter } });
    expect((await calls(user.token, "editMessageText", user.chatId)).length).toBe(1);
  }, 30_000);
});
