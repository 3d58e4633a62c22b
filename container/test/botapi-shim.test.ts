/**
 * The Bot API shim against the Telegram stand-in (dev/telegram-standin.ts): calls that would take
 * the bot away from the Worker never reach Telegram; the rest go through unchanged.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { start as startTelegram } from "../../dev/telegram-standin.ts";
import { startBotApiShim } from "../src/botapi-shim.ts";

const TOKEN = "777001:BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";
const WORKER_WEBHOOK = "https://worker.example/telegram/webhook/user-1";

test("setWebhook/deleteWebhook/setMyCommands/getUpdates stay local; sendMessage and getMe reach the API", async () => {
  const telegram = await startTelegram({ port: 0 });
  const shim = await startBotApiShim({ upstream: telegram.url });
  const api = (method: string, params: Record<string, unknown> = {}) =>
    fetch(`${shim.url}/bot${TOKEN}/${method}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(params) });
  try {
    // The Worker registered its webhook directly with Telegram.
    const set = await fetch(`${telegram.url}/bot${TOKEN}/setWebhook`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ url: WORKER_WEBHOOK, secret_token: "s" }) });
    assert.equal(set.status, 200);

    // What OpenClaw does at start, through the shim.
    const me = await (await api("getMe")).json() as { ok: boolean; result: { is_bot: boolean } };
    assert.equal(me.ok, true);
    assert.equal(me.result.is_bot, true);
    for (const method of ["setWebhook", "deleteWebhook", "setMyCommands", "deleteMyCommands", "logOut", "close"]) {
      const answer = await api(method, { url: "https://container.example/telegram-webhook", commands: [] });
      assert.equal(answer.status, 200, method);
      assert.equal(((await answer.json()) as { ok: boolean }).ok, true, method);
    }
    const info = await (await api("getWebhookInfo")).json() as { result: { url: string } };
    assert.equal(info.result.url, "https://container.example/telegram-webhook", "OpenClaw sees what it believes it set");
    const poll = await api("getUpdates");
    assert.equal(poll.status, 409);

    // Replies go through to the real API.
    const sent = await api("sendMessage", { chat_id: 4242, text: "hello from the agent" });
    assert.equal(sent.status, 200);
    assert.equal(((await sent.json()) as { result: { text: string } }).result.text, "hello from the agent");
    const typing = await api("sendChatAction", { chat_id: 4242, action: "typing" });
    assert.equal(typing.status, 200);
    const bad = await api("sendMessage", { text: "no chat" });
    assert.equal(bad.status, 400, "Bot API errors pass through as they are");

    // Telegram itself saw no webhook change, no commands change, no polling.
    const calls = (await (await fetch(`${telegram.url}/__control/calls?token=${encodeURIComponent(TOKEN)}`)).json()) as { calls: { method: string }[] };
    assert.deepEqual(calls.calls.map((c) => c.method), ["setWebhook", "getMe", "sendMessage", "sendChatAction", "sendMessage"]);
    const bots = (await (await fetch(`${telegram.url}/__control/bots?token=${encodeURIComponent(TOKEN)}`)).json()) as { bots: { webhook: { url: string } }[] };
    assert.equal(bots.bots[0]!.webhook.url, WORKER_WEBHOOK);
    assert.deepEqual(shim.calls.filter((c) => c.handled !== "forwarded").map((c) => c.method), ["setWebhook", "deleteWebhook", "setMyCommands", "deleteMyCommands", "logOut", "close", "getWebhookInfo", "getUpdates"]);
  } finally {
    await shim.close();
    await telegram.close();
  }
});

test("an unreachable Bot API answers 502 in the Bot API's envelope", async () => {
  const shim = await startBotApiShim({ upstream: "http://127.0.0.1:1" });
  try {
    const answer = await fetch(`${shim.url}/bot${TOKEN}/sendMessage`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    assert.equal(answer.status, 502);
    assert.equal(((await answer.json()) as { ok: boolean }).ok, false);
  } finally {
    await shim.close();
  }
});
