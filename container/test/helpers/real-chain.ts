/**
 * The real chain's setup, shared by the tests that run the whole product on this machine with real
 * OpenClaw (hybrid-real, life-cron): the local stack (`wrangler dev` + the Bedrock, Telegram and Fly
 * stand-ins, dev/local-stack.ts), one paid user with a SOUL.md and (optionally) their own Telegram bot
 * bound to their chat, the Fly app provisioned through the Fly stand-in, and the container booted as
 * a local process with exactly the secrets the Worker set on that app (FLY_APP_URL points at the
 * container's port, so the Worker talks to it as it would through Fly's proxy).
 *
 *   const chain = await startRealChain({ email, soul, telegram: { botToken, chatId }, vars });
 *   const container = await chain.bootContainer();   // again later for "a new machine, same secrets"
 *   ...
 *   await chain.stop();
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startLocalStack, type LocalStack } from "../../../dev/local-stack.ts";
import { freePort, startContainer, type RunningContainer } from "./run-container.ts";

export interface RealChainOptions {
  email: string;
  /** Saved as the user's SOUL.md before the app is provisioned. */
  soul?: string;
  /** The person's own bot, claimed and bound to `chatId` before provisioning. */
  telegram?: { botToken: string; chatId: number };
  /** FLY_TUNING fields over the chain's own (CHAIN_TUNING), e.g. the schedule's wake lead. */
  tuning?: Record<string, number>;
  /** Extra Worker vars (budgets, ...); FLY_APP_URL is set to the container's port. */
  vars?: Record<string, string>;
  /** Boot the first container (default true): provisioning waits for its health. */
  boot?: boolean;
  echo?: boolean;
}

export interface StoredMessage { id: string; role: string; text: string; channel: string; via?: string; replyTo?: string; status?: string; createdAt?: string }
export interface Recorded { seq: number; time: number; key: string; operation: string; outcome?: string; status?: number; body: { tools?: { name: string }[]; messages?: { role: string; content: unknown }[]; system?: unknown } }
/** One Bot API call the bot made, as the Telegram stand-in recorded it. */
export interface BotCall { seq: number; time: number; method: string; ok: boolean; errorCode?: number; params: { text?: string; message_id?: number }; result?: { message_id?: number; text?: string } }
export interface FlyCall { seq: number; at?: number; time?: number; method: string; path: string; route?: string; app?: string; status?: number }

export interface RealChain {
  stack: LocalStack;
  email: string;
  auth: { authorization: string };
  /** The Fly app's name and the secrets the Worker set on it. */
  app: string;
  secrets: Record<string, string>;
  containerPort: number;
  /** The container booted by startRealChain (null with boot: false) or by the last bootContainer(). */
  container: RunningContainer | null;
  api<T>(path: string, init?: RequestInit): Promise<{ status: number; body: T; headers: Headers }>;
  /** `POST /api/chat` (JSON, waits for the whole reply); `images`: ids from `POST /api/images`. */
  chat(id: string, text: string, options?: { images?: string[] }): Promise<{ status: number; body: { via: string; text: string; status: string; error?: { code: string; message: string } } }>;
  history(): Promise<StoredMessage[]>;
  bedrock<T>(path: string, body?: unknown): Promise<T>;
  requestsFor(key: string): Promise<Recorded[]>;
  telegram<T>(path: string, body?: unknown): Promise<T>;
  /** The bot's calls in the bound chat (or, `anyChat`, all of them: getFile names no chat), oldest first. */
  botCalls(method?: string, anyChat?: boolean): Promise<BotCall[]>;
  /** What the bot sent to the bound chat (successful sendMessage calls), oldest first. */
  sentTexts(): Promise<string[]>;
  /**
   * The person writes to the bot (with `photo`, sends that picture with `text` as its caption);
   * Telegram delivers it to the Worker's webhook. Returns the update id.
   */
  sayOnTelegram(text: string, options?: { photo?: Buffer }): Promise<number>;
  /** The Fly stand-in's control API (`/__control/...`). */
  fly<T>(path: string, body?: unknown): Promise<T>;
  /** A new container process (new empty disk) with the app's secrets, healthy. */
  bootContainer(options?: { healthTimeoutMs?: number }): Promise<RunningContainer>;
  stop(): Promise<void>;
}

/**
 * The Fly tuning of a real chain: quick retries and polls, no status cache. The wake budget stays
 * production's (20 s), which covers only the wait for the container's first byte: real OpenClaw's
 * first words take 7–14 s here, but its front server answers at once, so a reply is never cut by
 * the budget however loaded the machine is.
 */
export const CHAIN_TUNING = { requestTimeoutMs: 5000, retryBaseMs: 50, jobBackoffBaseMs: 500, jobBackoffCapMs: 2000, syncDebounceMs: 100, statusCacheMs: 0, waitPollSeconds: 1, healthTimeoutMs: 3000 };

export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number, pollMs = 300): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/** A bot token of Telegram's shape, random each run (never a real one). */
export function generatedBotToken(): string {
  return `${7_100_000_000 + Math.floor(Math.random() * 99_999_999)}:${randomBytes(26).toString("base64url").slice(0, 35)}`;
}

export async function startRealChain(options: RealChainOptions): Promise<RealChain> {
  const echo = options.echo ?? process.env.CONTAINER_TEST_ECHO === "1";
  const containerPort = await freePort();
  const homeBase = mkdtempSync(join(tmpdir(), "soulprint-chain-"));
  const stack = await startLocalStack({
    vars: {
      FLY_TUNING: JSON.stringify({ ...CHAIN_TUNING, ...options.tuning }),
      // After a fallback to Bedrock (a container gone), the circuit is tried again soon.
      CONTAINER_COOLDOWN_MS: "2000",
      ...options.vars,
      FLY_APP_URL: `http://127.0.0.1:${containerPort}`,
    },
  });
  const auth = { authorization: `Email ${options.email}` };
  const tg = options.telegram;

  const api = async <T>(path: string, init: RequestInit = {}) => {
    const response = await fetch(`${stack.base}${path}`, init);
    const text = await response.text();
    return { status: response.status, body: (text ? JSON.parse(text) : null) as T, headers: response.headers };
  };
  const control = async <T>(base: string, path: string, body?: unknown): Promise<T> => {
    const response = await fetch(`${base}/__control/${path}`, body === undefined ? {} : { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    assert.ok(response.ok, `${base} ${path}: ${response.status}`);
    return (await response.json()) as T;
  };
  const telegram = <T>(path: string, body?: unknown) => control<T>(stack.telegramUrl, path, body);
  const botCalls = async (method?: string, anyChat = false) => {
    if (!tg) return [];
    return (await telegram<{ calls: BotCall[] }>(`calls?token=${encodeURIComponent(tg.botToken)}${anyChat ? "" : `&chatId=${tg.chatId}`}${method ? `&method=${method}` : ""}`)).calls;
  };
  const sentTexts = async () => (await botCalls("sendMessage")).filter((c) => c.ok).map((c) => c.params.text ?? "");
  const sayOnTelegram = async (text: string, { photo }: { photo?: Buffer } = {}) => {
    assert.ok(tg, "no Telegram bot in this chain");
    const message = photo ? { photo: photo.toString("base64"), caption: text } : { text };
    const delivered = await telegram<{ updateId: number; status: number }>("deliver", { token: tg.botToken, chatId: tg.chatId, ...message });
    assert.equal(delivered.status, 200, "the Worker took the update");
    return delivered.updateId;
  };

  const chain: RealChain = {
    stack, email: options.email, auth, app: "", secrets: {}, containerPort, container: null,
    api,
    chat: (id, text, { images } = {}) => api("/api/chat", { method: "POST", headers: { ...auth, "content-type": "application/json", accept: "application/json" }, body: JSON.stringify({ id, text, ...(images ? { images } : {}) }) }),
    history: async () => (await api<{ messages: StoredMessage[] }>("/api/chat/history?limit=200", { headers: auth })).body.messages,
    bedrock: (path, body) => control(stack.bedrockUrl, path, body),
    requestsFor: async (key) => (await control<{ requests: Recorded[] }>(stack.bedrockUrl, `requests?key=${key}`)).requests,
    telegram, botCalls, sentTexts, sayOnTelegram,
    fly: (path, body) => control(stack.flyUrl, path, body),
    async bootContainer({ healthTimeoutMs = 240_000 } = {}) {
      // Exactly the app's secrets, as a Fly machine gets them; only the ports are ours.
      // Every machine of the image has the same HOME (/home/node on Fly): here one path, empty at each boot.
      const started = await startContainer({ env: { ...chain.secrets, CONTAINER_PORT: String(containerPort) }, echo, home: join(homeBase, "home") });
      try {
        await started.waitHealthy(healthTimeoutMs);
      } catch (error) {
        await started.stop();
        throw error;
      }
      chain.container = started;
      return started;
    },
    async stop() {
      await chain.container?.stop();
      chain.container = null;
      if (echo) console.log(`\n[wrangler, last lines]\n${stack.log().slice(-6000)}`);
      await stack.stop();
      rmSync(homeBase, { recursive: true, force: true });
    },
  };

  try {
    // The Fly stand-in's machines only change state: the container is the real one below.
    await control(stack.flyUrl, "settings", { containerLife: false });
    const admin = { authorization: `Bearer ${stack.vars.ADMIN_TOKEN}`, "content-type": "application/json" };
    assert.equal((await api(`/api/admin/users/${encodeURIComponent(options.email)}/tier`, { method: "PUT", headers: admin, body: JSON.stringify({ tier: "paid" }) })).status, 200);
    if (options.soul !== undefined) {
      const saved = await fetch(`${stack.base}/api/workspace/SOUL.md`, { method: "PUT", headers: { ...auth, "content-type": "text/markdown" }, body: options.soul });
      assert.equal(saved.status, 200);
    }
    if (tg) {
      // The person's own bot, bound to their chat, before the app is provisioned (its secrets then
      // carry the webhook secret, never the token).
      const claim = await api<{ linkUrl: string }>("/api/telegram/claim", { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: JSON.stringify({ botToken: tg.botToken }) });
      assert.equal(claim.status, 200, JSON.stringify(claim.body));
      const code = new URL(claim.body.linkUrl).searchParams.get("start");
      await sayOnTelegram(`/start ${code}`);
      await waitFor("the bot's welcome", async () => ((await sentTexts()).length > 0 ? true : undefined), 60_000);
    }

    const provision = await api<{ app: string }>("/api/fly/provision", { method: "POST", headers: auth });
    assert.equal(provision.status, 202);
    chain.app = provision.body.app;
    chain.secrets = await waitFor("the app's secrets", async () => {
      // 404 until the provisioner has created the app.
      const app = (await (await fetch(`${stack.flyUrl}/__control/apps/${chain.app}`)).json()) as { secrets?: Record<string, string> };
      return app.secrets?.GATEWAY_TOKEN && (!tg || app.secrets.TELEGRAM_WEBHOOK_SECRET) ? app.secrets : undefined;
    }, 60_000);
    if (options.boot !== false) {
      await chain.bootContainer();
      // The provisioner's health check may give up while OpenClaw is still starting (it takes 15–45 s
      // here); provisioning again resumes from that step, as a user pressing the button would.
      await waitFor("the app to be ready", async () => {
        const status = await api<{ state: string }>("/api/fly/status", { headers: auth });
        if (status.body.state === "failed") await api("/api/fly/provision", { method: "POST", headers: auth });
        return status.body.state === "ready" ? status.body : undefined;
      }, 120_000);
    }
  } catch (error) {
    await chain.stop().catch(() => {});
    throw error;
  }
  return chain;
}
