/**
 * The built image, running as Fly runs it (`podman run --memory 2048m --cpus 1`, read-only root, the
 * image's tini as the one init): the container contract from the outside, with only the secrets the
 * Worker sets. The Worker is a stand-in of its container routes (test/helpers/callback-standin.ts):
 * the model gateway, passed on to an Anthropic Messages stand-in (so the image's own model path,
 * OpenClaw's `anthropic-messages` provider with the gateway token, runs), the Bot API route, which
 * makes the calls on dev/telegram-standin.ts with the bot's token the container never has, and the
 * write-back route; all on the host's loopback (reached from the container at 10.0.2.2).
 *
 * Prints the README's figures: cold start to /health 200, memory after the first reply and after ten.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { currentTurn, systemText, textOf, type ModelStandin } from "../test/helpers/model-standin.ts";
import { waitFor, type CallbackStandin } from "../test/helpers/callback-standin.ts";
import { startWorkerSide, type TelegramStandin } from "../test/helpers/worker-side.ts";
import { HOST_FROM_CONTAINER, podman, startContainer, type StartedContainer } from "./helpers/podman.ts";
import { describeMemory, memory } from "./helpers/figures.ts";

const GATEWAY_TOKEN = "gw-image-test-token-77d2";
const USER_ID = "user-image-1";
const BOT_TOKEN = "525252:DDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDD";
const WEBHOOK_SECRET = "webhook-secret-image-4";
const WORKER_WEBHOOK = "https://soulprint-worker.example/telegram/webhook/user-image-1";
const SOUL = "You are Pixel, a fox who loves puns. SOUL-MARKER-IMG1";
const IDENTITY = "Name: Pixel. IDENTITY-MARKER-IMG2";
const MEMORY = "# Memory\n- Tess likes tea.\n";
/** Long enough that a file written just before SIGTERM can only reach the Worker through the flush. */
const DEBOUNCE_MS = 10_000;
const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
const fromContainer = (url: string) => url.replace("127.0.0.1", HOST_FROM_CONTAINER);

let model: ModelStandin;
let telegram: TelegramStandin;
let callback: CallbackStandin;
let container: StartedContainer;
let mountDir: string;
let replies = 0;
const figures: string[] = [];

async function chat(content: string): Promise<string> {
  const response = await fetch(`${container.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${GATEWAY_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "openclaw", stream: true, user: `soulprint:${USER_ID}`, messages: [{ role: "user", content }] }),
    signal: AbortSignal.timeout(180_000),
  });
  assert.equal(response.status, 200);
  const raw = await response.text();
  assert.ok(raw.trimEnd().endsWith("data: [DONE]"), `the stream ends with [DONE]: ${raw.slice(-200)}`);
  replies++;
  let text = "";
  for (const line of raw.split("\n")) {
    const data = line.startsWith("data:") ? line.slice(5).trim() : "";
    if (data && data !== "[DONE]") text += (JSON.parse(data) as { choices?: { delta?: { content?: string } }[] }).choices?.[0]?.delta?.content ?? "";
  }
  return text;
}

describe("the image, running under Fly's limits", { timeout: 900_000 }, () => {
  before(async () => {
    ({ model, telegram, callback } = await startWorkerSide({
      gatewayToken: GATEWAY_TOKEN, botToken: BOT_TOKEN, webhook: { url: WORKER_WEBHOOK, secret: WEBHOOK_SECRET },
      memory: MEMORY, noted: "Noted.",
    }));
    // Fly's config.files: a workspace file that exists only as a mounted file.
    mountDir = mkdtempSync(join(tmpdir(), "soulprint-image-mount-"));
    writeFileSync(join(mountDir, "IDENTITY.md"), IDENTITY);

    container = await startContainer({
      // The Worker's secrets (src/lib/fly/secrets.ts): no model URL of its own, no bot token.
      env: {
        GATEWAY_TOKEN,
        SOULPRINT_USER_ID: USER_ID,
        SOULPRINT_CALLBACK_URL: fromContainer(callback.url),
        SOULPRINT_MODEL: "global.anthropic.claude-opus-4-6-v1",
        TELEGRAM_WEBHOOK_SECRET: WEBHOOK_SECRET,
        SOUL_MD_B64: b64(SOUL),
        MEMORY_MD_B64: b64(MEMORY),
        SOULPRINT_WRITEBACK_DEBOUNCE_MS: String(DEBOUNCE_MS),
        SOULPRINT_WRITEBACK_POLL_MS: "1000",
      },
      extra: [
        // Nothing writable but the user's home (OpenClaw's state and caches) and /tmp (podman's default with --read-only).
        "--read-only",
        "--mount", "type=tmpfs,destination=/home/node,chown=true",
        "--volume", `${join(mountDir, "IDENTITY.md")}:/workspace/IDENTITY.md:ro`,
      ],
    });
  });

  after(async () => {
    if (container) {
      if (process.env.CONTAINER_TEST_ECHO === "1" || process.exitCode) console.log((await container.logs()).split("\n").slice(-60).join("\n"));
      container.remove();
    }
    await Promise.allSettled([model?.close(), telegram?.close(), callback?.close()]);
    if (mountDir) rmSync(mountDir, { recursive: true, force: true });
    console.log(`\n[image figures]\n  ${figures.join("\n  ")}\n`);
  });

  it("/health answers 503 while OpenClaw starts, then 200; the image's HEALTHCHECK agrees", async () => {
    const statuses: (number | string)[] = [];
    const deadline = Date.now() + 300_000;
    for (;;) {
      const state = await podman(["inspect", "--format", "{{.State.Status}}", container.name]);
      assert.equal(state.stdout.trim(), "running", `the container stopped:\n${await container.logs()}`);
      const status = await fetch(`${container.url}/health`, { signal: AbortSignal.timeout(5_000) }).then((r) => r.status, (e: Error) => e.name);
      if (statuses.at(-1) !== status) statuses.push(status);
      if (status === 200) break;
      assert.ok(Date.now() < deadline, `/health not 200 after 300 s (${statuses.join(" → ")}):\n${await container.logs()}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    figures.push(`cold start (podman run → /health 200, --cpus 1): ${((Date.now() - container.startedAt) / 1000).toFixed(1)} s (${statuses.join(" → ")})`);
    assert.ok(statuses.includes(503), `expected 503 before ready, saw ${statuses.join(", ")}`);
    const check = await podman(["healthcheck", "run", container.name]);
    assert.equal(check.code, 0, `podman healthcheck run: ${check.stdout}${check.stderr}`);
  });

  it("runs as the non-root node user under tini, with nothing writable but its state and /tmp", async () => {
    assert.equal((await container.exec(["id", "-u"])).stdout.trim(), "1000");
    const init = await container.exec(["cat", "/proc/1/cmdline"]);
    assert.match(init.stdout.split("\0")[0] ?? "", /tini$/);
    for (const path of ["/app", "/app/src", "/app/node_modules/openclaw", "/workspace", "/usr/local/bin", "/etc", "/"]) {
      const probe = await container.exec(["sh", "-c", `touch "${path}/.probe" 2>&1; echo $?`]);
      assert.notEqual(probe.stdout.trim().split("\n").at(-1), "0", `${path} is writable`);
    }
    for (const path of ["/home/node/.openclaw/workspace", "/tmp"]) {
      const probe = await container.exec(["sh", "-c", `touch "${path}/.probe" && rm "${path}/.probe" && echo ok`]);
      assert.equal(probe.stdout.trim(), "ok", `${path} must be writable: ${probe.stderr}`);
    }
  });

  it("streams a chat reply with SOUL.md and the mounted IDENTITY.md in the system prompt; 401 without the token", async () => {
    const t0 = Date.now();
    assert.equal(await chat("Hello, who are you?"), "Hello from the model stand-in.");
    figures.push(`first chat reply after ready: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    figures.push(`memory after the first reply: ${describeMemory(await memory(container))}`);
    const seen = model.requests.find((r) => textOf(currentTurn(r.body).find((m) => m.role === "user") ?? {}).includes("Hello, who are you?"));
    assert.ok(seen, "the model stand-in received the message");
    assert.ok(systemText(seen.body).includes(SOUL), "SOUL.md is in the system prompt");
    assert.ok(systemText(seen.body).includes(IDENTITY), "IDENTITY.md (mounted file) is in the system prompt");
    assert.equal(seen.protocol, "anthropic", "the image's own model path: Anthropic Messages through the Worker's gateway");
    assert.ok(callback.modelCalls.length > 0 && callback.modelCalls.every((c) => c.authorized), JSON.stringify(callback.modelCalls));
    const wrong = await fetch(`${container.url}/v1/chat/completions`, { method: "POST", headers: { authorization: "Bearer nope", "content-type": "application/json" }, body: "{}" });
    assert.equal(wrong.status, 401);
    await wrong.body?.cancel();
  });

  it("answers a forwarded Telegram update through the Bot API, leaving the webhook on the Worker", async () => {
    const built = await (await fetch(`${telegram.url}/__control/deliver`, {
      method: "POST", body: JSON.stringify({ token: BOT_TOKEN, text: "telegram-ping", chatId: 6161, dryRun: true }),
    })).json() as { update: unknown; callsSeq: number; headers: Record<string, string> };
    const forwarded = await fetch(`${container.url}/telegram-webhook`, { method: "POST", headers: built.headers, body: JSON.stringify(built.update) });
    assert.equal(forwarded.status, 200);
    await forwarded.body?.cancel();
    type Calls = { calls: { method: string; params: Record<string, unknown>; ok: boolean }[] };
    const sent = await waitFor("sendMessage to the chat", async () => {
      const { calls } = (await (await fetch(`${telegram.url}/__control/calls?token=${encodeURIComponent(BOT_TOKEN)}&since=${built.callsSeq}&method=sendMessage`)).json()) as Calls;
      return calls.find((c) => String(c.params.chat_id) === "6161" && c.ok);
    }, 180_000, 250);
    replies++;
    assert.equal(sent.params.text, "Hello Telegram, Pixel here.");
    assert.ok(callback.botCalls.some((c) => c.path === "/api/container/telegram/sendMessage"), "through the Worker's Bot API route");
    assert.ok(callback.botCalls.every((c) => c.credential === "bearer" && c.authorized), JSON.stringify(callback.botCalls));
    const { bots } = (await (await fetch(`${telegram.url}/__control/bots?token=${encodeURIComponent(BOT_TOKEN)}`)).json()) as { bots: { webhook: { url: string } }[] };
    assert.equal(bots[0]!.webhook.url, WORKER_WEBHOOK);
  });

  it("writes a MEMORY.md the agent changed back to the Worker", async () => {
    assert.equal(await chat("REMEMBER: Tess's cat is called Miso"), "Noted.");
    const put = await waitFor("the MEMORY.md PUT", () => callback.puts.find((p) => p.name === "MEMORY.md"), DEBOUNCE_MS + 60_000, 200);
    assert.equal(put.body, `${MEMORY}- Tess's cat is called Miso\n`);
    assert.equal(put.authorization, `Bearer ${GATEWAY_TOKEN}`);
    assert.equal(put.user, USER_ID);
  });

  it("stays within the machine's memory after ten replies", async () => {
    while (replies < 10) assert.equal(await chat(`Message number ${replies + 1}`), "Hello from the model stand-in.");
    const after10 = await memory(container);
    figures.push(`memory after ten replies: ${describeMemory(after10)}`);
    const limit = await podman(["inspect", "--format", "{{.HostConfig.Memory}}", container.name]);
    assert.equal(limit.stdout.trim(), String(2048 * 1024 * 1024), "the container ran with Fly's 2048 MB");
    assert.ok(after10.cgroupMb < 2048, `${after10.cgroupMb} MB is over the machine's 2048 MB`);
    const oom = await podman(["inspect", "--format", "{{.State.OOMKilled}}", container.name]);
    assert.equal(oom.stdout.trim(), "false");
  });

  it("on SIGTERM sends a pending workspace file first, then exits 0", async () => {
    // Written by the agent's user just now: the debounce would hold it for DEBOUNCE_MS.
    const wrote = await container.exec(["sh", "-c", "printf 'late note\\n' > /home/node/.openclaw/workspace/NOTES.md"]);
    assert.equal(wrote.code, 0, wrote.stderr);
    const sigterm = Date.now();
    const stop = await podman(["stop", "--time", "30", container.name], { timeoutMs: 60_000 });
    const stopMs = Date.now() - sigterm;
    assert.equal(stop.code, 0, stop.stderr);
    const exit = await podman(["inspect", "--format", "{{.State.ExitCode}}", container.name]);
    assert.equal(exit.stdout.trim(), "0", "exited by itself with 0 (137 would be podman's SIGKILL after 30 s)");
    const late = callback.puts.find((p) => p.name === "NOTES.md");
    assert.ok(late, "NOTES.md reached the Worker before the container exited");
    assert.equal(late.body, "late note\n");
    assert.ok(late.at >= sigterm, "it was sent by the shutdown flush, not by the debounce");
    assert.match(await container.logs(), /stopping: SIGTERM/);
    figures.push(`SIGTERM → exit (podman stop): ${(stopMs / 1000).toFixed(1)} s`);
  });
});
