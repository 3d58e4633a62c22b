/**
 * Driving the Telegram stand-in (dev/telegram-standin.ts) from tests: fresh bot tokens, recorded
 * Bot API calls, injected failures, and updates built by the stand-in (with the webhook's secret
 * header) that the test then delivers to the Worker itself, since the Worker under vitest has no port.
 */
import { inject } from "vitest";
import { env, exports } from "cloudflare:workers";
import { runDurableObjectAlarm } from "cloudflare:test";
import { apiJson, jsonInit, type TestUser } from "./helpers.ts";

export interface RecordedCall {
  seq: number;
  time: number;
  method: string;
  params: Record<string, unknown>;
  files?: { field: string; size: number }[];
  ok: boolean;
  errorCode?: number;
  description?: string;
  result?: { message_id?: number; text?: string; chat?: { id: number } } & Record<string, unknown>;
}

const base = () => inject("telegramUrl");
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";

/** A fresh bot token (the stand-in keeps state per token); `bad` makes Telegram reject it. */
export function botToken(options: { bad?: boolean } = {}): string {
  const id = 100_000_000 + Math.floor(Math.random() * 899_999_999);
  const random = Array.from(crypto.getRandomValues(new Uint8Array(35)), (b) => ALPHABET[b % 64]).join("");
  return `${id}:${options.bad ? `bad${random.slice(3)}` : `A${random.slice(1)}`}`;
}

export function botIdOf(token: string): number {
  return Number(token.split(":")[0]);
}

async function control<T>(path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${base()}/__control/${path}`, body === undefined ? {} : { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const text = await response.text();
  if (!response.ok) throw new Error(`stand-in ${path}: ${response.status} ${text}`);
  return JSON.parse(text) as T;
}

export async function calls(token: string, method?: string, chatId?: number): Promise<RecordedCall[]> {
  const query = new URLSearchParams({ token, ...(method ? { method } : {}), ...(chatId !== undefined ? { chatId: String(chatId) } : {}) });
  return (await control<{ calls: RecordedCall[] }>(`calls?${query}`)).calls;
}

/** Messages the bot sent to a chat (successful sendMessage calls), oldest first. */
export async function sentTexts(token: string, chatId: number): Promise<string[]> {
  return (await calls(token, "sendMessage", chatId)).filter((c) => c.ok).map((c) => String(c.result?.text ?? ""));
}

export async function botState(token: string): Promise<{ webhook: { url: string; has_secret: boolean; allowed_updates?: string[] } }> {
  const { bots } = await control<{ bots: { webhook: { url: string; has_secret: boolean; allowed_updates?: string[] } }[] }>(`bots?token=${encodeURIComponent(token)}`);
  return bots[0]!;
}

/** Telegram's flood control on previews: edits and drafts to one chat closer than `minIntervalMs` get 429. */
export function flood(token: string, minIntervalMs: number, retryAfter = 1): Promise<unknown> {
  return control("flood", { token, minIntervalMs, retryAfter });
}

export function failNext(token: string, method: string, options: { times?: number; retryAfter?: number; errorCode?: number; description?: string } = {}): Promise<unknown> {
  return control("fail", { token, method, ...options });
}

export interface Delivery {
  updateId: number;
  update: Record<string, unknown>;
  url: string;
  headers: Record<string, string>;
}

/** Builds an update like Telegram would (private chat text message) without sending it. */
export interface UpdateInput {
  text?: string;
  chatId?: number;
  updateId?: number;
  /** A photo message instead of text: the image bytes, base64 (the stand-in serves them through getFile). */
  photo?: string;
  caption?: string;
}

export function buildUpdate(token: string, input: UpdateInput): Promise<Delivery> {
  return control<Delivery>("deliver", { token, dryRun: true, ...input });
}

/** POSTs an update to the Worker's webhook exactly as Telegram would. */
export function post(delivery: Delivery, overrides: { secret?: string | null; update?: unknown } = {}): Promise<Response> {
  const headers = new Headers(delivery.headers);
  if (overrides.secret === null) headers.delete("x-telegram-bot-api-secret-token");
  else if (overrides.secret !== undefined) headers.set("x-telegram-bot-api-secret-token", overrides.secret);
  return exports.default.fetch(new Request(delivery.url, { method: "POST", headers, body: JSON.stringify(overrides.update ?? delivery.update) }));
}

/** Builds and delivers one message; expects the webhook's 200. */
export async function say(token: string, input: UpdateInput): Promise<Delivery> {
  const delivery = await buildUpdate(token, input);
  const response = await post(delivery);
  if (response.status !== 200) throw new Error(`webhook answered ${response.status}: ${await response.text()}`);
  return delivery;
}

export function actorOf(user: TestUser) {
  return env.USER_ACTOR.get(env.USER_ACTOR.idFromName(user.userId));
}

/** Runs the object's alarm now if one is set (the runtime may also have run it already). */
export async function runJobs(user: TestUser): Promise<void> {
  await runDurableObjectAlarm(actorOf(user));
}

/** Polls until `check` returns a value (not undefined/false), or fails after `timeoutMs`. */
export async function waitFor<T>(check: () => Promise<T | undefined | false>, timeoutMs = 10_000, what = "condition"): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Waits until the bot has sent at least `count` messages to `chatId`, running due jobs meanwhile. */
export async function waitForTexts(user: TestUser, token: string, chatId: number, count: number, timeoutMs = 15_000): Promise<string[]> {
  return waitFor(async () => {
    await runJobs(user);
    const texts = await sentTexts(token, chatId);
    return texts.length >= count ? texts : undefined;
  }, timeoutMs, `${count} message(s) to chat ${chatId}`);
}

export function claim(user: TestUser, body: Record<string, unknown> = {}) {
  return apiJson<{ botUsername: string; linkUrl: string }>("/api/telegram/claim", jsonInit("POST", body, user.auth));
}

export function release(user: TestUser) {
  return apiJson("/api/telegram/claim", { method: "DELETE", headers: user.auth });
}

/** Claims `token` for `user` and binds `chatId` as the owner's chat through /start <code>. */
export async function connect(user: TestUser, token: string, chatId: number): Promise<void> {
  const claimed = await claim(user, { botToken: token });
  if (claimed.status !== 200) throw new Error(`claim failed: ${claimed.status} ${JSON.stringify(claimed.body)}`);
  const code = new URL(claimed.body.linkUrl).searchParams.get("start");
  await say(token, { text: `/start ${code}`, chatId });
  await waitForTexts(user, token, chatId, 1);
}
