/**
 * The container with the REAL OpenClaw (npm `openclaw`, as pinned in package.json), run through
 * src/entrypoint.ts like the image runs it, minus Docker, with only the secrets the Worker sets. The
 * Worker is a stand-in (test/helpers/callback-standin.ts) of its container routes on one origin
 * (SOULPRINT_CALLBACK_URL): the model gateway, passed on to an Anthropic Messages stand-in (so the
 * image's own model path runs: OpenClaw's `anthropic-messages` provider with the gateway token), the
 * Bot API route, which makes the calls on dev/telegram-standin.ts with the bot's token (the container
 * never has it), and the write-back route. One OpenClaw start serves every check (~30 s, ~1.3 GB).
 *
 * Prints the measured start-up time and peak memory (the README's sizing figures).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { currentTurn, systemText, textOf, type ModelStandin } from "./helpers/model-standin.ts";
import { waitFor, type CallbackStandin } from "./helpers/callback-standin.ts";
import { startWorkerSide, type TelegramStandin } from "./helpers/worker-side.ts";
import { startContainer, type RunningContainer } from "./helpers/run-container.ts";

const GATEWAY_TOKEN = "gw-test-token-5f1c";
const USER_ID = "user-container-1";
const BOT_TOKEN = "424242:CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC";
const WEBHOOK_SECRET = "webhook-secret-91";
const MODEL = "global.anthropic.claude-opus-4-6-v1";
const WORKER_WEBHOOK = "https://soulprint-worker.example/telegram/webhook/user-container-1";
const SOUL = "You are Pixel, a fox who loves puns. SOUL-MARKER-7F3A";
const USER = "The user is called Tess. USER-MARKER-19B2";
const IDENTITY = "Name: Pixel. IDENTITY-MARKER-C0DE";
const MEMORY = "# Memory\n- Tess likes tea.\n";
const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");

let model: ModelStandin;
let telegram: TelegramStandin;
let callback: CallbackStandin;
let container: RunningContainer;
let startup: { ms: number; statuses: (number | string)[] };
const figures: string[] = [];

async function tg<T>(path: string): Promise<T> {
  return (await (await fetch(`${telegram.url}${path}`)).json()) as T;
}

/** Reads an SSE chat completion: the text, whether it ended with [DONE], any error chunk. */
async function readSse(response: Response): Promise<{ text: string; done: boolean; errors: unknown[]; chunks: number }> {
  const raw = await response.text();
  let text = "";
  let done = false;
  let chunks = 0;
  const errors: unknown[] = [];
  for (const line of raw.split("\n")) {
    if (!line.startsWith("data:")) continue;
    const data = line.slice(5).trim();
    if (data === "[DONE]") {
      done = true;
      continue;
    }
    const chunk = JSON.parse(data) as { choices?: { delta?: { content?: string } }[]; error?: unknown };
    chunks++;
    if (chunk.error) errors.push(chunk.error);
    text += chunk.choices?.[0]?.delta?.content ?? "";
  }
  return { text, done, errors, chunks };
}

function chat(content: string, token = GATEWAY_TOKEN): Promise<Response> {
  return fetch(`${container.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", accept: "text/event-stream" },
    // The Worker's request (src/lib/container/container-client.ts): only the new user message.
    body: JSON.stringify({ model: "openclaw", stream: true, user: `soulprint:${USER_ID}`, messages: [{ role: "user", content }] }),
    signal: AbortSignal.timeout(180_000),
  });
}

describe("the container with real OpenClaw", { timeout: 600_000 }, () => {
  before(async () => {
    ({ model, telegram, callback } = await startWorkerSide({
      gatewayToken: GATEWAY_TOKEN, botToken: BOT_TOKEN, webhook: { url: WORKER_WEBHOOK, secret: WEBHOOK_SECRET },
      memory: MEMORY, noted: "Noted, I will remember that.",
    }));

    container = await startContainer({
      echo: process.env.CONTAINER_TEST_ECHO === "1",
      // The Worker's secrets (src/lib/fly/secrets.ts): no model URL of its own, no bot token.
      env: {
        GATEWAY_TOKEN,
        SOULPRINT_USER_ID: USER_ID,
        SOULPRINT_CALLBACK_URL: callback.url,
        SOULPRINT_MODEL: MODEL,
        TELEGRAM_WEBHOOK_SECRET: WEBHOOK_SECRET,
        SOUL_MD_B64: b64(SOUL),
        USER_MD_B64: b64(USER),
        MEMORY_MD_B64: b64(MEMORY),
        SOULPRINT_WRITEBACK_DEBOUNCE_MS: "300",
        SOULPRINT_WRITEBACK_POLL_MS: "1000",
      },
      // IDENTITY.md arrives only as a mounted file (Fly config.files), without an env secret.
      mountFiles: { "IDENTITY.md": IDENTITY },
    });
  });

  after(async () => {
    if (container) {
      const mem = container.memory();
      figures.push(`peak RSS: ${(mem.peakTotalRssKb / 1024).toFixed(0)} MB for the whole container (entrypoint + OpenClaw + its helpers), ` +
        `${(mem.peakProcessHwmKb / 1024).toFixed(0)} MB for the OpenClaw gateway process alone (VmHWM; ${mem.samples} samples)`);
      const stopped = await container.stop();
      figures.push(`SIGTERM → exit in ${(stopped.ms / 1000).toFixed(1)} s (code ${stopped.code}, signal ${stopped.signal})`);
    }
    await Promise.allSettled([model?.close(), telegram?.close(), callback?.close()]);
    console.log(`\n[container figures]\n  ${figures.join("\n  ")}\n`);
  });

  it("/health answers 503 while OpenClaw starts, then 200", async () => {
    startup = await container.waitHealthy();
    figures.push(`start-up: /health 200 after ${(startup.ms / 1000).toFixed(1)} s (from process spawn; before that /health said ${startup.statuses.join(" → ")})`);
    assert.ok(startup.statuses.includes(503), `expected 503 before ready, saw ${startup.statuses.join(", ")}`);
    const health = await fetch(`${container.url}/health`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { ok: true, status: "ready" });
  });

  it("streams chat completions with SOUL.md, USER.md and IDENTITY.md in the system prompt", async () => {
    const before = model.requests.length;
    const t0 = Date.now();
    const response = await chat("Hello, who are you?");
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type") ?? "", /text\/event-stream/);
    const sse = await readSse(response);
    figures.push(`first chat reply (stand-in model) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    assert.deepEqual(sse.errors, []);
    assert.equal(sse.done, true, "the stream ends with [DONE]");
    assert.ok(sse.chunks >= 2, "the reply came as several SSE chunks");
    assert.equal(sse.text, "Hello from the model stand-in.");
    const seen = model.requests.slice(before).find((r) => textOf(currentTurn(r.body).find((m) => m.role === "user") ?? {}).includes("Hello, who are you?"));
    assert.ok(seen, "the model stand-in received the user's message");
    const system = systemText(seen.body);
    assert.ok(system.includes(SOUL), "SOUL.md is in the system prompt");
    assert.ok(system.includes(USER), "USER.md is in the system prompt");
    assert.ok(system.includes(IDENTITY), "IDENTITY.md (mounted file) is in the system prompt");
    assert.equal(seen.body.stream, true, "OpenClaw streams from the provider too");
    // The image's own model path: Anthropic Messages through the Worker's gateway, with the gateway token.
    assert.equal(seen.protocol, "anthropic");
    assert.equal(seen.body.model, MODEL);
    assert.ok(callback.modelCalls.length > 0 && callback.modelCalls.every((c) => c.authorized && c.status === 200), JSON.stringify(callback.modelCalls));
  });

  it("refuses a wrong or missing gateway token with 401, and serves nothing but the contract", async () => {
    const wrong = await chat("hi", "not-the-token");
    assert.equal(wrong.status, 401);
    await wrong.body?.cancel();
    const missing = await fetch(`${container.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "openclaw", messages: [{ role: "user", content: "hi" }] }) });
    assert.equal(missing.status, 401);
    await missing.body?.cancel();
    const ui = await fetch(`${container.url}/`);
    assert.equal(ui.status, 404, "OpenClaw's Control UI is not exposed");
    await ui.body?.cancel();
  });

  it("answers a forwarded Telegram update through the Bot API (sendMessage), leaving the webhook on the Worker", async () => {
    // The Worker forwards the raw update with the bot's secret header (forwardTelegramUpdate).
    const built = await (await fetch(`${telegram.url}/__control/deliver`, {
      method: "POST", body: JSON.stringify({ token: BOT_TOKEN, text: "telegram-ping", chatId: 5151, dryRun: true }),
    })).json() as { update: unknown; callsSeq: number; headers: Record<string, string> };
    assert.equal(built.headers["x-telegram-bot-api-secret-token"], WEBHOOK_SECRET);

    const wrong = await fetch(`${container.url}/telegram-webhook`, { method: "POST", headers: { "content-type": "application/json", "x-telegram-bot-api-secret-token": "nope" }, body: JSON.stringify(built.update) });
    assert.equal(wrong.status, 401);

    const t0 = Date.now();
    const forwarded = await fetch(`${container.url}/telegram-webhook`, { method: "POST", headers: built.headers, body: JSON.stringify(built.update) });
    assert.equal(forwarded.status, 200);
    await forwarded.body?.cancel();
    type Calls = { calls: { method: string; params: Record<string, unknown>; ok: boolean }[] };
    const sent = await waitFor("sendMessage to the chat", async () => {
      const { calls } = await tg<Calls>(`/__control/calls?token=${encodeURIComponent(BOT_TOKEN)}&since=${built.callsSeq}&method=sendMessage`);
      return calls.find((c) => String(c.params.chat_id) === "5151" && c.ok);
    }, 120_000, 250);
    figures.push(`Telegram update → sendMessage in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    assert.equal(sent.params.text, "Hello Telegram, Pixel here.");

    const { calls } = await tg<Calls>(`/__control/calls?token=${encodeURIComponent(BOT_TOKEN)}`);
    const methods = new Set(calls.map((c) => c.method));
    assert.ok(methods.has("getMe"), "OpenClaw reached the Bot API through the shim and the Worker's route");
    // Every Bot API call went through the Worker's route with the gateway token (the only way the
    // container has: it holds no bot token).
    assert.ok(callback.botCalls.length >= 3, JSON.stringify(callback.botCalls));
    assert.ok(callback.botCalls.every((c) => c.credential === "bearer" && c.authorized), JSON.stringify(callback.botCalls));
    assert.ok(callback.botCalls.some((c) => c.path === "/api/container/telegram/sendMessage"));
    assert.ok(methods.has("sendChatAction"), "typing was shown");
    assert.equal(calls.filter((c) => c.method === "setWebhook").length, 1, "only the Worker's own setWebhook reached Telegram");
    for (const never of ["deleteWebhook", "getUpdates", "setMyCommands", "deleteMyCommands", "logOut", "close"]) assert.ok(!methods.has(never), `${never} reached Telegram`);
    const { bots } = await tg<{ bots: { webhook: { url: string } }[] }>(`/__control/bots?token=${encodeURIComponent(BOT_TOKEN)}`);
    assert.equal(bots[0]!.webhook.url, WORKER_WEBHOOK);
  });

  it("writes a MEMORY.md the agent changed back to the Worker, and echoes nothing it was sent", async () => {
    const t0 = Date.now();
    const response = await chat("REMEMBER: Tess's cat is called Miso");
    const sse = await readSse(response);
    assert.deepEqual(sse.errors, []);
    assert.equal(sse.text, "Noted, I will remember that.");
    const put = await waitFor("the MEMORY.md PUT", () => callback.puts.find((p) => p.name === "MEMORY.md"), 30_000, 100);
    figures.push(`agent's MEMORY.md write → PUT at the callback in ${((Date.now() - t0) / 1000).toFixed(1)} s (chat turn included)`);
    assert.equal(put.body, `${MEMORY}- Tess's cat is called Miso\n`);
    assert.equal(put.authorization, `Bearer ${GATEWAY_TOKEN}`);
    assert.equal(put.user, USER_ID);
    await new Promise((r) => setTimeout(r, 1_500)); // a scan or two later
    assert.deepEqual(callback.puts.map((p) => p.name), ["MEMORY.md"], "SOUL.md, USER.md, IDENTITY.md were not echoed back");
  });
});
