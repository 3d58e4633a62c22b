/**
 * The front server against fake upstreams (no OpenClaw): routing, /health's reading of OpenClaw's
 * probes, streaming pass-through, and what it answers while OpenClaw is not up.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { startFront } from "../src/front.ts";
import { freePort } from "./helpers/run-container.ts";

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

async function fake(handler: Handler) {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((r) => {
      server.close(() => r());
      server.closeAllConnections();
    }),
  };
}

const probes = (ready: { status: number; body: unknown }, startup = 200): Handler => (req, res) => {
  if (req.url === "/readyz") return void res.writeHead(ready.status, { "content-type": "application/json" }).end(JSON.stringify(ready.body));
  if (req.url === "/startupz") return void res.writeHead(startup, { "content-type": "application/json" }).end("{}");
  res.writeHead(404).end();
};

async function front(gatewayPort: number, telegram: { port: number; path: string; secret: string } | null = null) {
  return startFront({ port: 0, host: "127.0.0.1", gatewayPort, telegram, channels: telegram ? ["telegram"] : [] });
}

test("/health follows OpenClaw's readiness; a failing Telegram alone leaves chat in service", async () => {
  const cases: [Handler | null, number, unknown][] = [
    [null, 503, { ok: false, status: "starting" }],
    [probes({ status: 503, body: { ready: false, failing: ["startup-sidecars"] } }, 503), 503, { ok: false, status: "unavailable", failing: ["startup-sidecars"] }],
    [probes({ status: 200, body: { ready: true, failing: [] } }), 200, { ok: true, status: "ready" }],
    [probes({ status: 503, body: { ready: false, failing: ["telegram"] } }), 200, { ok: true, status: "degraded", failing: ["telegram"] }],
    [probes({ status: 503, body: { ready: false, failing: ["telegram", "state-database"] } }), 503, { ok: false, status: "unavailable", failing: ["telegram", "state-database"] }],
    [probes({ status: 503, body: { ready: false, failing: ["gateway-draining"] } }), 503, { ok: false, status: "unavailable", failing: ["gateway-draining"] }],
  ];
  for (const [handler, status, body] of cases) {
    const upstream = handler ? await fake(handler) : null;
    const f = await front(upstream?.port ?? (await freePort()), { port: await freePort(), path: "/telegram-webhook", secret: "s" });
    try {
      const res = await fetch(`http://127.0.0.1:${f.port}/health`);
      assert.equal(res.status, status, JSON.stringify(body));
      assert.deepEqual(await res.json(), body);
    } finally {
      await f.close();
      await upstream?.close();
    }
  }
});

test("/v1/* streams through piece by piece, headers and status kept", async () => {
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const seen: { auth?: string; body?: string; path?: string } = {};
  const upstream = await fake((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", async () => {
      Object.assign(seen, { auth: req.headers.authorization, body, path: req.url });
      res.writeHead(200, { "content-type": "text/event-stream", "x-upstream": "yes" });
      res.write('data: {"n":1}\n\n');
      await held;
      res.end("data: [DONE]\n\n");
    });
  });
  const f = await front(upstream.port);
  try {
    const res = await fetch(`http://127.0.0.1:${f.port}/v1/chat/completions?x=1`, { method: "POST", headers: { authorization: "Bearer abc", "content-type": "application/json" }, body: '{"stream":true}' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("x-upstream"), "yes");
    const reader = res.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    assert.equal(first, 'data: {"n":1}\n\n', "the first piece arrives before the upstream has finished");
    release();
    let rest = "";
    for (let r = await reader.read(); !r.done; r = await reader.read()) rest += new TextDecoder().decode(r.value);
    assert.equal(rest, "data: [DONE]\n\n");
    assert.deepEqual(seen, { auth: "Bearer abc", body: '{"stream":true}', path: "/v1/chat/completions?x=1" });
  } finally {
    release();
    await f.close();
    await upstream.close();
  }
});

test("a caller that goes away closes the upstream request (OpenClaw then cancels the run)", async () => {
  let upstreamClosed!: () => void;
  const closed = new Promise<void>((r) => (upstreamClosed = r));
  const upstream = await fake((req, res) => {
    res.writeHead(200, { "content-type": "text/event-stream" });
    res.write("data: {}\n\n");
    res.on("close", () => upstreamClosed());
  });
  const f = await front(upstream.port);
  try {
    const controller = new AbortController();
    const res = await fetch(`http://127.0.0.1:${f.port}/v1/chat/completions`, { method: "POST", body: "{}", signal: controller.signal });
    await res.body!.getReader().read();
    controller.abort();
    await Promise.race([closed, new Promise((_, rej) => setTimeout(() => rej(new Error("upstream still open")), 3_000))]);
  } finally {
    await f.close();
    await upstream.close();
  }
});

test("while OpenClaw is not up: /v1 and /telegram-webhook answer 503 with Retry-After (the Worker retries those)", async () => {
  const f = await front(await freePort(), { port: await freePort(), path: "/telegram-webhook", secret: "s" });
  try {
    const chat = await fetch(`http://127.0.0.1:${f.port}/v1/chat/completions`, { method: "POST", body: "{}" });
    assert.equal(chat.status, 503);
    assert.equal(chat.headers.get("retry-after"), "5");
    const tg = await fetch(`http://127.0.0.1:${f.port}/telegram-webhook`, { method: "POST", headers: { "x-telegram-bot-api-secret-token": "s" }, body: "{}" });
    assert.equal(tg.status, 503);
  } finally {
    await f.close();
  }
});

test("/telegram-webhook: secret checked before forwarding, 404 without a bot, nothing else served", async () => {
  const got: string[] = [];
  const listener = await fake((req, res) => {
    got.push(`${req.method} ${req.url} ${req.headers["x-telegram-bot-api-secret-token"]}`);
    req.resume();
    res.writeHead(200, { "x-openclaw-delivery-accepted": "durable" }).end();
  });
  const f = await front(await freePort(), { port: listener.port, path: "/telegram-webhook", secret: "right" });
  const noBot = await front(await freePort(), null);
  try {
    const base = `http://127.0.0.1:${f.port}`;
    assert.equal((await fetch(`${base}/telegram-webhook`, { method: "POST", body: "{}" })).status, 401);
    assert.equal((await fetch(`${base}/telegram-webhook`, { method: "POST", headers: { "x-telegram-bot-api-secret-token": "wrong" }, body: "{}" })).status, 401);
    assert.equal((await fetch(`${base}/telegram-webhook`)).status, 405);
    const ok = await fetch(`${base}/telegram-webhook`, { method: "POST", headers: { "x-telegram-bot-api-secret-token": "right", "content-type": "application/json" }, body: '{"update_id":1}' });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get("x-openclaw-delivery-accepted"), "durable");
    assert.deepEqual(got, ["POST /telegram-webhook right"]);
    assert.equal((await fetch(`http://127.0.0.1:${noBot.port}/telegram-webhook`, { method: "POST", body: "{}" })).status, 404);
    for (const path of ["/", "/healthz", "/readyz", "/ws", "/telegram-webhookx"]) assert.equal((await fetch(`${base}${path}`)).status, 404, path);
  } finally {
    await f.close();
    await noBot.close();
    await listener.close();
  }
});
