/**
 * The Bot API shim against the Telegram stand-in (dev/telegram-standin.ts), through a small stand-in
 * of the Worker's Bot API route: calls that would take the bot away from the Worker never leave the
 * container; the rest reach the Worker with the gateway token (never a bot token), and the Worker
 * makes them with the bot it holds.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { start as startTelegram } from "../../dev/telegram-standin.ts";
import { startBotApiShim } from "../src/botapi-shim.ts";
import { PLACEHOLDER_BOT_TOKEN } from "../src/openclaw-config.ts";

const TOKEN = "777001:BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";
const GATEWAY_TOKEN = "gw1.user-1.1.test-gateway-token";
const WORKER_WEBHOOK = "https://worker.example/telegram/webhook/user-1";

/** The Worker's `POST /api/container/telegram/:method`: checks the gateway token, calls with its bot. */
async function startWorkerRoute(telegramUrl: string): Promise<{ url: string; seen: string[]; close(): Promise<void> }> {
  const seen: string[] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    seen.push(`${req.headers.authorization} ${req.url}`);
    const filePath = /^\/api\/container\/telegram\/file\/(.+)$/.exec(req.url ?? "")?.[1];
    if (filePath && req.method === "GET" && req.headers.authorization === `Bearer ${GATEWAY_TOKEN}`) {
      // The Worker's file route: the download made with the bot it holds.
      const upstream = await fetch(`${telegramUrl}/file/bot${TOKEN}/${filePath}`);
      res.writeHead(upstream.status, { "content-type": upstream.headers.get("content-type") ?? "application/octet-stream" }).end(Buffer.from(await upstream.arrayBuffer()));
      return;
    }
    const method = /^\/api\/container\/telegram\/([A-Za-z]+)$/.exec(req.url ?? "")?.[1];
    if (req.headers.authorization !== `Bearer ${GATEWAY_TOKEN}` || !method) {
      res.writeHead(401, { "content-type": "application/json" }).end('{"ok":false,"error_code":401,"description":"Unauthorized"}');
      return;
    }
    const upstream = await fetch(`${telegramUrl}/bot${TOKEN}/${method}`, { method: "POST", headers: { "content-type": String(req.headers["content-type"] ?? "application/json") }, body: Buffer.concat(chunks) });
    res.writeHead(upstream.status, { "content-type": "application/json" }).end(Buffer.from(await upstream.arrayBuffer()));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

test("setWebhook/deleteWebhook/setMyCommands/getUpdates stay local; sendMessage and getMe go through the Worker", async () => {
  const telegram = await startTelegram({ port: 0 });
  const worker = await startWorkerRoute(telegram.url);
  const shim = await startBotApiShim({ worker: worker.url, gatewayToken: GATEWAY_TOKEN });
  const api = (method: string, params: Record<string, unknown> = {}) =>
    fetch(`${shim.url}/bot${PLACEHOLDER_BOT_TOKEN}/${method}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(params) });
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
    // Every call reached the Worker with the gateway token; the placeholder bot token went nowhere.
    assert.ok(worker.seen.every((line) => line.startsWith(`Bearer ${GATEWAY_TOKEN} /api/container/telegram/`)), worker.seen.join("\n"));
    assert.ok(!worker.seen.some((line) => line.includes(PLACEHOLDER_BOT_TOKEN)));

    // A photo's download (after getFile): the shim drops the placeholder and asks the Worker's file
    // route, which downloads it with the bot it holds.
    const photo = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 4, 5, 6, 7, 8]);
    const built = (await (await fetch(`${telegram.url}/__control/deliver`, { method: "POST", body: JSON.stringify({ token: TOKEN, chatId: 4242, photo: photo.toString("base64"), dryRun: true }) })).json()) as { update: { message: { photo: { file_id: string }[] } } };
    const fileId = built.update.message.photo.at(-1)!.file_id;
    const got = (await (await api("getFile", { file_id: fileId })).json()) as { result: { file_path: string } };
    const file = await fetch(`${shim.url}/file/bot${PLACEHOLDER_BOT_TOKEN}/${got.result.file_path}`);
    assert.equal(file.status, 200);
    assert.deepEqual(Buffer.from(await file.arrayBuffer()), photo);
    assert.equal(worker.seen.at(-1), `Bearer ${GATEWAY_TOKEN} /api/container/telegram/file/${got.result.file_path}`);
    assert.ok(!worker.seen.some((line) => line.includes(PLACEHOLDER_BOT_TOKEN)));
    // Anything else outside /bot<token>/<method> stays refused, as does a file upload attempt.
    assert.equal((await fetch(`${shim.url}/elsewhere`)).status, 404);
    assert.equal((await fetch(`${shim.url}/file/bot${PLACEHOLDER_BOT_TOKEN}/photos/x.jpg`, { method: "POST", body: "x" })).status, 404);
  } finally {
    await shim.close();
    await worker.close();
    await telegram.close();
  }
});

test("an unreachable Worker answers 502 in the Bot API's envelope", async () => {
  const shim = await startBotApiShim({ worker: "http://127.0.0.1:1", gatewayToken: GATEWAY_TOKEN });
  try {
    const answer = await fetch(`${shim.url}/bot${TOKEN}/sendMessage`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    assert.equal(answer.status, 502);
    assert.equal(((await answer.json()) as { ok: boolean }).ok, false);
  } finally {
    await shim.close();
  }
});
