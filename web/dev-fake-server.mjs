#!/usr/bin/env node
/**
 * A small stand-in for the SoulPrint Worker, for working on the page alone: it serves public/ and
 * fakes the HTTP API and the chat WebSocket of shared/design/API.md (streaming deltas, hello.pending,
 * history paging, cancel, ping/pong, fly and workspace frames), in memory, one user per email.
 * It is not the Worker and holds no business rules beyond what the page needs to be exercised.
 *
 *   npm run build:web && node web/dev-fake-server.mjs [--port 8788] [--no-dev-auth]
 *   open http://localhost:8788  (any email; "paid…@" emails are on the paid tier)
 *
 * Magic words in a chat message: "budget" → budget_exceeded error, "image" → an image frame,
 * "tool" → a tool status, "container" → waking_container status, "long" → a long reply.
 * Test hooks: POST /__fake/drop (close every socket), POST /__fake/edit?name=MEMORY.md (an edit
 * "from the container", with a workspace frame).
 *
 * Node has no WebSocket server built in: the RFC 6455 handshake and text frames are done here
 * (server side: unmasked frames out, masked frames in, no extensions).
 */
import { createHash, randomBytes } from "node:crypto";
import { deflateSync } from "node:zlib";
import { readFile } from "node:fs/promises";
import http from "node:http";
import { extname, join, normalize, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const DEFAULT_PUBLIC = join(here, "..", "public");
const FILE_RE = /^[A-Z][A-Z0-9_]{0,31}\.md$/;
const STEPS = ["create_app", "set_secrets", "allocate_ips", "create_machines", "wait_started", "health_check"];
const MIME = {
  ".html": "text/html; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".map": "application/json",
  ".svg": "image/svg+xml",
};

const sha256 = (s) => createHash("sha256").update(s).digest("hex");
const now = () => new Date().toISOString();

// ---------------------------------------------------------------- fake data

function seedFile(name, text, versions = 1) {
  const hist = [];
  for (let v = 1; v < versions; v++) {
    const old = `${text}\n<!-- an earlier draft, version ${v} -->\n`;
    hist.push({ version: v, text: old, sha256: sha256(old), size: Buffer.byteLength(old), updatedAt: new Date(Date.now() - (versions - v) * 86_400_000).toISOString() });
  }
  return { text, version: versions, sha256: sha256(text), updatedAt: new Date(Date.now() - 3_600_000).toISOString(), history: hist };
}

function seedMessages() {
  const msgs = [];
  const start = Date.now() - 3 * 86_400_000;
  for (let i = 0; i < 27; i++) {
    msgs.push({ id: `seed-u${i}`, role: "user", text: `Earlier question number ${i + 1}`, at: new Date(start + i * 600_000).toISOString() });
    msgs.push({ id: `seed-a${i}`, role: "assistant", text: `An earlier answer (${i + 1}).`, at: new Date(start + i * 600_000 + 5000).toISOString(), via: "bedrock" });
  }
  const t = Date.now() - 3_600_000;
  msgs.push(
    { id: "seed-u100", role: "user", text: "Can you help me plan my week? I want more time for running.", at: new Date(t).toISOString() },
    {
      id: "seed-a100",
      role: "assistant",
      via: "bedrock",
      at: new Date(t + 9000).toISOString(),
      text:
        "Of course. Here is a simple shape for the week:\n\n" +
        "1. **Mon, Wed, Fri**: easy 5 km runs before work\n" +
        "2. **Tue, Thu**: strength, 30 minutes\n" +
        "3. **Sunday**: a *long, slow* run\n\n" +
        "I noted in `MEMORY.md` that mornings work best for you.",
    },
    { id: "seed-u101", role: "user", text: "Perfect. What pace should the long run be?", at: new Date(t + 60_000).toISOString() },
    {
      id: "seed-a101",
      role: "assistant",
      via: "bedrock",
      at: new Date(t + 70_000).toISOString(),
      text: "Aim for a pace where you could hold a conversation — roughly 60–90 seconds per km slower than your 5 km pace.\n\n> Easy days easy, hard days hard.",
    },
  );
  return msgs;
}

function usageDays() {
  const days = [];
  for (let i = 6; i >= 0; i--) {
    const date = new Date(Date.now() - i * 86_400_000).toISOString().slice(0, 10);
    const k = (i * 37) % 11;
    days.push({ date, inputTokens: 8000 + k * 2100, outputTokens: 1200 + k * 420, cacheReadTokens: 30000 + k * 5200, cacheWriteTokens: 4000 + k * 300, images: i === 2 ? 1 : 0, costUsd: +(0.05 + k * 0.031).toFixed(4) });
  }
  return days;
}

function newUser(email) {
  return {
    email,
    userId: sha256(`user:${email}`).slice(0, 20),
    tier: email.startsWith("paid") ? "paid" : "free",
    chatMode: "auto",
    files: new Map([
      ["SOUL.md", seedFile("SOUL.md", "# Soul\n\nYou are Wren: warm, curious and direct. You keep answers short unless asked.\n", 3)],
      ["IDENTITY.md", seedFile("IDENTITY.md", "# Identity\n\nName: Wren\nEmoji: 🪶\n")],
      ["USER.md", seedFile("USER.md", "# User\n\nLikes running in the morning. Lives in Lisbon.\n", 2)],
      ["MEMORY.md", seedFile("MEMORY.md", "")],
    ]),
    messages: email.startsWith("new") ? [] : seedMessages(),
    replies: new Map(),
    sockets: new Set(),
    fly: { state: "none", step: null, attempts: 0, nextRetryAt: null, lastError: null },
    flyTimer: null,
    telegram: { claimed: false },
    usage: usageDays(),
    msgCounter: 1000,
  };
}

// ---------------------------------------------------------------- server

export async function startFakeServer({ port = 8788, publicDir = DEFAULT_PUBLIC, devAuth = true, csp = "default-src 'self'", quiet = false } = {}) {
  const users = new Map();
  const tickets = new Map();
  const log = (...a) => quiet || console.log("[fake]", ...a);

  const userFor = (email) => {
    const key = email.trim().toLowerCase();
    if (!users.has(key)) users.set(key, newUser(key));
    return users.get(key);
  };

  /** Email from the Authorization header, or null. Bearer tokens: any JWT-shaped token with an email claim. */
  function authEmail(req) {
    const h = req.headers.authorization ?? "";
    if (h.startsWith("Email ")) return devAuth ? h.slice(6).trim() : null;
    if (h.startsWith("Bearer ")) {
      const parts = h.slice(7).split(".");
      if (parts.length !== 3) return null;
      try {
        const claims = JSON.parse(Buffer.from(parts[1], "base64url").toString());
        if (claims.exp && claims.exp * 1000 < Date.now()) return null;
        return typeof claims.email === "string" ? claims.email : null;
      } catch {
        return null;
      }
    }
    return null;
  }

  const send = (res, status, body, headers = {}) => {
    const isJson = typeof body === "object" && body !== null && !Buffer.isBuffer(body);
    res.writeHead(status, { "Content-Type": isJson ? "application/json" : "text/plain; charset=utf-8", "Cache-Control": "no-store", ...headers });
    res.end(isJson ? JSON.stringify(body) : body);
  };
  const fail = (res, status, code, message, headers) => send(res, status, { error: { code, message } }, headers);
  const readBody = (req) =>
    new Promise((resolve) => {
      const chunks = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    });

  function broadcast(user, frame) {
    const data = JSON.stringify(frame);
    for (const ws of user.sockets) ws.sendText(data);
  }

  function flyStatus(user) {
    const f = user.fly;
    const base = { state: f.state, step: f.step, attempts: f.attempts, nextRetryAt: f.nextRetryAt, lastError: f.lastError };
    if (f.state === "ready" || f.state === "provisioning" || f.state === "failed") {
      const app = `sp-${user.userId}`;
      Object.assign(base, { app, url: `https://${app}.fly.dev`, region: "iad" });
    }
    if (f.state === "ready") {
      const sha = sha256([...user.files.values()].map((x) => x.sha256).join(""));
      base.machines = [{ id: "148e21ea", state: "started", region: "iad" }];
      base.workspace = { sha256: sha, syncedSha256: sha, lastSyncAt: new Date(Date.now() - 120_000).toISOString(), pendingSync: false };
    }
    return base;
  }

  function runProvisioning(user) {
    clearTimeout(user.flyTimer);
    let i = 0;
    const failAt = user.email.includes("flyfail") ? 2 : -1;
    const tick = () => {
      if (user.fly.state !== "provisioning") return;
      if (i === failAt) {
        Object.assign(user.fly, { state: "failed", step: STEPS[i], lastError: "Fly API answered 503 while allocating IPs", attempts: 3 });
        broadcast(user, { type: "fly", state: "failed", step: STEPS[i], detail: "Fly API answered 503" });
        return;
      }
      if (i >= STEPS.length) {
        Object.assign(user.fly, { state: "ready", step: null });
        broadcast(user, { type: "fly", state: "ready", step: null });
        return;
      }
      user.fly.step = STEPS[i];
      broadcast(user, { type: "fly", state: "provisioning", step: STEPS[i], detail: i === 4 ? "machine 148e21ea starting" : undefined });
      i++;
      user.flyTimer = setTimeout(tick, 900);
    };
    tick();
  }

  function putFile(user, name, text) {
    const prev = user.files.get(name);
    const history = prev ? [...prev.history, { version: prev.version, text: prev.text, sha256: prev.sha256, size: Buffer.byteLength(prev.text), updatedAt: prev.updatedAt }] : [];
    const file = { text, version: (prev?.version ?? 0) + 1, sha256: sha256(text), updatedAt: now(), history };
    user.files.set(name, file);
    broadcast(user, { type: "workspace", name, sha256: file.sha256, version: file.version });
    return file;
  }

  // ---- chat engine (fake) ----

  function replyText(text) {
    if (/long/i.test(text)) {
      return Array.from({ length: 12 }, (_, i) => `${i + 1}. **Point ${i + 1}**: a longer line of text that keeps streaming so the page has something to scroll.`).join("\n");
    }
    if (/markdown|format/i.test(text)) {
      return (
        "## A quick tour\n\nHere is **bold**, *italic*, ~~struck~~ and `inline code`.\n\n" +
        "- a list item\n- another, with a [link](https://example.com/docs)\n  - nested\n\n" +
        "```ts\nconst soul = await workspace.read(\"SOUL.md\");\nconsole.log(soul.length);\n```\n\n" +
        "| File | Purpose |\n|---|---|\n| SOUL.md | who I am |\n| MEMORY.md | what I remember |\n\n" +
        "And a script tag stays text: <script>alert(1)</script>"
      );
    }
    return `You said: “${text.slice(0, 120)}”.\n\nHere is what I can do:\n\n- **Remember** things in \`MEMORY.md\`\n- Talk about *anything*, any time\n\nMore at https://example.com/docs.`;
  }

  function startReply(user, id, text) {
    const r = { id, text: "", done: false, cancelled: false, messageId: null };
    user.replies.set(id, r);
    const full = replyText(text);
    const chunks = full.match(/[\s\S]{1,7}/g) ?? [];
    let i = 0;
    const statuses = [];
    if (/container/i.test(text)) statuses.push({ status: "waking_container" });
    statuses.push({ status: "thinking" });
    if (/tool|remember/i.test(text)) statuses.push({ status: "tool", detail: "remember" });
    const finish = () => {
      if (/image/i.test(text)) broadcast(user, { type: "image", id, url: `/api/images/img-${id.slice(0, 8)}`, alt: "A feather drawn in ink" });
      r.done = true;
      r.messageId = `m${user.msgCounter++}`;
      user.messages.push({ id: r.messageId, role: "assistant", text: r.text, at: now(), via: "bedrock", replyTo: id, status: r.cancelled ? "cancelled" : "done", ...(/image/i.test(text) ? { images: [{ url: `/api/images/img-${id.slice(0, 8)}`, alt: "A feather drawn in ink" }] } : {}) });
      const usage = { inputTokens: 1200, outputTokens: Math.ceil(r.text.length / 4), cacheReadTokens: 9000, cacheWriteTokens: 300, costUsd: 0.0123 };
      const today = user.usage[user.usage.length - 1];
      today.inputTokens += usage.inputTokens;
      today.outputTokens += usage.outputTokens;
      today.cacheReadTokens += usage.cacheReadTokens;
      today.costUsd = +(today.costUsd + usage.costUsd).toFixed(4);
      broadcast(user, { type: "done", id, messageId: r.messageId, via: "bedrock", usage, ...(r.cancelled ? { status: "cancelled" } : {}) });
    };
    const step = () => {
      if (r.cancelled) return finish();
      if (statuses.length) {
        broadcast(user, { type: "status", id, ...statuses.shift() });
        return setTimeout(step, 450);
      }
      if (i < chunks.length) {
        r.text += chunks[i];
        broadcast(user, { type: "delta", id, text: chunks[i] });
        i++;
        return setTimeout(step, /long/i.test(text) ? 45 : 28);
      }
      finish();
    };
    setTimeout(step, 150);
  }

  function onChatFrame(user, ws, frame) {
    if (frame.type === "chat") {
      if (typeof frame.id !== "string" || !frame.id || frame.id.length > 64 || typeof frame.text !== "string" || !frame.text.trim()) {
        return ws.sendText(JSON.stringify({ type: "error", id: frame.id, code: "bad_request", message: "A chat frame needs an id (1-64 chars) and text." }));
      }
      const existing = user.replies.get(frame.id);
      if (existing) {
        // Seen before: no second reply. A finished one is sent again to this socket.
        if (existing.done) {
          ws.sendText(JSON.stringify({ type: "delta", id: frame.id, text: existing.text }));
          ws.sendText(JSON.stringify({ type: "done", id: frame.id, messageId: existing.messageId, via: "bedrock" }));
        }
        return;
      }
      if (/budget/i.test(frame.text)) {
        return ws.sendText(JSON.stringify({ type: "error", id: frame.id, code: "budget_exceeded", message: "You have used today's token budget. It resets at 00:00 UTC." }));
      }
      const msg = { id: frame.id, role: "user", text: frame.text, at: now() };
      user.messages.push(msg);
      broadcast(user, { type: "user", ...msg });
      startReply(user, frame.id, frame.text);
    } else if (frame.type === "history") {
      const limit = Math.min(Math.max(Number(frame.limit) || 50, 1), 100);
      let end = user.messages.length;
      if (frame.before) {
        const idx = user.messages.findIndex((m) => m.id === frame.before);
        if (idx >= 0) end = idx;
      }
      const start = Math.max(0, end - limit);
      ws.sendText(JSON.stringify({ type: "history", messages: user.messages.slice(start, end), hasMore: start > 0 }));
    } else if (frame.type === "cancel") {
      const r = user.replies.get(frame.id);
      if (r && !r.done) r.cancelled = true;
    }
  }

  // ---- HTTP ----

  async function handleApi(req, res, url) {
    const p = url.pathname;
    const m = req.method;
    if (p === "/api/health") return send(res, 200, { ok: true, version: "0.1.0-fake", devAuth });

    if (p.startsWith("/__fake/")) {
      if (p === "/__fake/drop") {
        for (const u of users.values()) for (const ws of u.sockets) ws.destroy();
        return send(res, 200, { ok: true });
      }
      if (p === "/__fake/edit") {
        const name = url.searchParams.get("name") ?? "MEMORY.md";
        for (const u of users.values()) putFile(u, name, `${u.files.get(name)?.text ?? ""}\n- Edited by the container at ${now()}\n`);
        return send(res, 200, { ok: true });
      }
      return fail(res, 404, "not_found", "No such hook.");
    }

    const email = authEmail(req);
    if (!email) {
      const h = req.headers.authorization ?? "";
      return fail(res, 401, "unauthorized", h.startsWith("Email ") ? "Email sign-in is only for local development: use a bearer token." : "Sign in first: no valid token was sent.");
    }
    const user = userFor(email);

    if (p === "/api/me" && m === "GET") return send(res, 200, me(user));
    if (p === "/api/me" && m === "PATCH") {
      const body = JSON.parse((await readBody(req)) || "{}");
      if (body.chatMode !== "auto" && body.chatMode !== "direct") return fail(res, 400, "bad_request", "chatMode must be auto or direct.");
      if (user.tier !== "paid" && body.chatMode === "direct") return fail(res, 403, "paid_only", "Only paid accounts can choose the route.");
      user.chatMode = body.chatMode;
      return send(res, 200, me(user));
    }
    if (p === "/api/workspace" && m === "GET") {
      const files = [...user.files.entries()].map(([name, f]) => ({ name, size: Buffer.byteLength(f.text), sha256: f.sha256, version: f.version, updatedAt: f.updatedAt }));
      return send(res, 200, { files });
    }
    const wf = /^\/api\/workspace\/([^/]+)(\/versions(?:\/(\d+))?)?$/.exec(p);
    if (wf) {
      const name = decodeURIComponent(wf[1]);
      if (!FILE_RE.test(name)) return fail(res, 400, "bad_name", "File names must match ^[A-Z][A-Z0-9_]{0,31}\\.md$.");
      const file = user.files.get(name);
      if (wf[2]) {
        if (!file) return fail(res, 404, "not_found", `${name} does not exist.`);
        if (wf[3]) return fail(res, 404, "not_found", "No such route: versions come with their content.");
        // Like the Worker: newest first, the current version included, content inline.
        const all = [...file.history, { version: file.version, text: file.text, sha256: file.sha256, size: Buffer.byteLength(file.text), updatedAt: file.updatedAt }];
        const versions = all.reverse().map(({ version, text, sha256: s, size, updatedAt }) => ({ name, version, sha256: s, size, updatedAt, content: text, deleted: false, source: version === 1 ? "starter" : "user" }));
        return send(res, 200, { versions });
      }
      if (m === "GET") {
        if (!file) return fail(res, 404, "not_found", `${name} does not exist.`);
        return send(res, 200, file.text, { "Content-Type": "text/markdown; charset=utf-8", ETag: `"${file.sha256}"` });
      }
      if (m === "PUT") {
        const text = await readBody(req);
        const ifMatch = req.headers["if-match"];
        const ifNoneMatch = req.headers["if-none-match"];
        if (ifMatch && (!file || ifMatch.replace(/"/g, "") !== file.sha256)) return fail(res, 412, "precondition_failed", `${name} changed since you loaded it.`);
        if (ifNoneMatch === "*" && file) return fail(res, 412, "precondition_failed", `${name} already exists.`);
        if (Buffer.byteLength(text) > 64 * 1024) return fail(res, 413, "too_large", "A file holds at most 64 KiB.");
        if (!file && user.files.size >= 32) return fail(res, 413, "too_many_files", "A workspace holds at most 32 files.");
        const saved = putFile(user, name, text);
        return send(res, 200, { name, size: Buffer.byteLength(text), sha256: saved.sha256, version: saved.version });
      }
      if (m === "DELETE") {
        if (!file) return fail(res, 404, "not_found", `${name} does not exist.`);
        user.files.delete(name);
        broadcast(user, { type: "workspace", name, sha256: null, version: null });
        res.writeHead(204);
        return res.end();
      }
      return fail(res, 405, "method_not_allowed", "Use GET, PUT or DELETE.");
    }
    if (p === "/api/chat/ticket" && m === "POST") {
      const ticket = randomBytes(16).toString("hex");
      tickets.set(ticket, { email, exp: Date.now() + 60_000 });
      return send(res, 200, { ticket, expiresIn: 60 });
    }
    if (p === "/api/chat/history") {
      return send(res, 200, { messages: user.messages.slice(-50), hasMore: user.messages.length > 50 });
    }
    if (p === "/api/usage") return send(res, 200, { days: user.usage });
    if (p.startsWith("/api/images/")) {
      // A PNG, as the image model returns (Chrome cannot createImageBitmap an SVG blob).
      return send(res, 200, gradientPng(parseInt(sha256(p).slice(0, 2), 16)), { "Content-Type": "image/png" });
    }
    if (p === "/api/fly/status") return send(res, 200, flyStatus(user));
    if (p === "/api/fly/provision" && m === "POST") {
      if (user.tier !== "paid") return fail(res, 403, "paid_only", "Provisioning a container needs the paid tier.");
      if (user.fly.state !== "provisioning") {
        Object.assign(user.fly, { state: "provisioning", step: "create_app", lastError: null, attempts: 1 });
        runProvisioning(user);
      }
      return send(res, 202, flyStatus(user));
    }
    if (p === "/api/fly/sync" && m === "POST") {
      if (user.fly.state !== "ready") return fail(res, 409, "not_ready", "The container is not ready.");
      return send(res, 200, { changed: ["MEMORY.md"], machinesUpdated: 1 });
    }
    if (p === "/api/fly/app" && m === "DELETE") {
      clearTimeout(user.flyTimer);
      Object.assign(user.fly, { state: "deleting", step: null });
      broadcast(user, { type: "fly", state: "deleting", step: null });
      setTimeout(() => {
        Object.assign(user.fly, { state: "none", step: null, lastError: null, attempts: 0 });
        broadcast(user, { type: "fly", state: "none", step: null });
      }, 1500);
      res.writeHead(202);
      return res.end();
    }
    if (p === "/api/telegram/claim" && m === "POST") {
      const body = JSON.parse((await readBody(req)) || "{}");
      if (body.botToken && !/^\d+:[\w-]{20,}$/.test(body.botToken)) return fail(res, 400, "bad_bot_token", "Telegram rejected that token. Copy it again from @BotFather.");
      const botUsername = body.botToken ? "my_own_companion_bot" : "soulprint_pool_3_bot";
      user.telegram = { claimed: true, botUsername, linkUrl: `https://t.me/${botUsername}?start=${randomBytes(6).toString("hex")}` };
      return send(res, 200, { botUsername, linkUrl: user.telegram.linkUrl });
    }
    if (p === "/api/telegram/claim" && m === "DELETE") {
      user.telegram = { claimed: false };
      res.writeHead(204);
      return res.end();
    }
    return fail(res, 404, "not_found", `No route for ${m} ${p}.`);
  }

  function me(user) {
    const today = user.usage[user.usage.length - 1];
    const mode = user.tier === "paid" && user.chatMode === "auto" && user.fly.state === "ready" ? "container" : "direct";
    return { userId: user.userId, email: user.email, tier: user.tier, chatMode: user.chatMode, mode, fly: flyStatus(user), telegram: user.telegram, usage: today };
  }

  async function serveStatic(req, res, url) {
    let rel = normalize(decodeURIComponent(url.pathname)).replace(/^(\.\.[/\\])+/, "");
    if (rel === "/" || !extname(rel)) rel = "/index.html"; // single-page-application fallback
    try {
      const body = await readFile(join(publicDir, rel));
      res.writeHead(200, { "Content-Type": MIME[extname(rel)] ?? "application/octet-stream", "Content-Security-Policy": csp, "Cache-Control": "no-store" });
      res.end(body);
    } catch {
      send(res, 404, "Not found");
    }
  }

  const server = http.createServer((req, res) => {
    const url = new URL(req.url, "http://localhost");
    const started = Date.now();
    res.on("finish", () => log(req.method, url.pathname, res.statusCode, `${Date.now() - started}ms`));
    const handler = url.pathname.startsWith("/api/") || url.pathname.startsWith("/__fake/") ? handleApi : serveStatic;
    handler(req, res, url).catch((err) => {
      console.error("[fake] error", err);
      if (!res.headersSent) fail(res, 500, "internal", "The fake server failed.");
    });
  });

  server.on("upgrade", (req, socket) => {
    const url = new URL(req.url, "http://localhost");
    const t = tickets.get(url.searchParams.get("ticket") ?? "");
    tickets.delete(url.searchParams.get("ticket") ?? "");
    if (url.pathname !== "/api/chat" || !t || t.exp < Date.now() || !req.headers["sec-websocket-key"]) {
      socket.end("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n");
      return;
    }
    const accept = createHash("sha1").update(`${req.headers["sec-websocket-key"]}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest("base64");
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    const user = userFor(t.email);
    const ws = wrapSocket(socket, {
      onText(text) {
        if (text === "ping") return ws.sendText("pong"); // the hibernation auto-response
        let frame;
        try {
          frame = JSON.parse(text);
        } catch {
          return ws.sendText(JSON.stringify({ type: "error", code: "bad_frame", message: "Frames are JSON." }));
        }
        onChatFrame(user, ws, frame);
      },
      onClose() {
        user.sockets.delete(ws);
        log("ws closed", user.email);
      },
    });
    user.sockets.add(ws);
    log("ws open", user.email);
    const pending = [...user.replies.values()].filter((r) => !r.done).map((r) => ({ id: r.id, text: r.text }));
    ws.sendText(JSON.stringify({ type: "hello", userId: user.userId, tier: user.tier, mode: me(user).mode, fly: { state: user.fly.state }, pending }));
  });

  await new Promise((resolve) => server.listen(port, "127.0.0.1", resolve));
  const address = server.address();
  const base = `http://127.0.0.1:${address.port}`;
  log(`listening on ${base} (devAuth ${devAuth})`);
  return {
    url: base,
    users,
    close: () =>
      new Promise((resolve) => {
        for (const u of users.values()) for (const ws of u.sockets) ws.destroy();
        server.close(() => resolve());
        server.closeAllConnections?.();
      }),
  };
}

/** A 320×320 RGB PNG with a diagonal gradient and a light stroke: a stand-in for a generated image. */
function gradientPng(hue) {
  const size = 320;
  const rgb = (h, l) => {
    const a = 0.7 * Math.min(l, 1 - l);
    const f = (n) => {
      const k = (n + h / 30) % 12;
      return Math.round(255 * (l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1))));
    };
    return [f(0), f(8), f(4)];
  };
  const c1 = rgb(hue, 0.62);
  const c2 = rgb((hue + 60) % 360, 0.42);
  const raw = Buffer.alloc((size * 3 + 1) * size);
  for (let y = 0; y < size; y++) {
    raw[y * (size * 3 + 1)] = 0;
    for (let x = 0; x < size; x++) {
      const t = (x + y) / (2 * size);
      const onStroke = Math.abs(x + y - size) < 5 && x > 60 && x < size - 60;
      const o = y * (size * 3 + 1) + 1 + x * 3;
      for (let ch = 0; ch < 3; ch++) raw[o + ch] = onStroke ? 255 : Math.round(c1[ch] * (1 - t) + c2[ch] * t);
    }
  }
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const c = Buffer.alloc(4);
    c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(raw)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

/** Minimal RFC 6455 server side: text, close, ping frames; fragmented messages reassembled. */
function wrapSocket(socket, { onText, onClose }) {
  let buf = Buffer.alloc(0);
  let fragments = [];
  let closed = false;

  const frame = (opcode, payload) => {
    const len = payload.length;
    const head = len < 126 ? Buffer.from([0x80 | opcode, len]) : len < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
    if (len >= 126 && len < 65536) {
      head[0] = 0x80 | opcode;
      head[1] = 126;
      head.writeUInt16BE(len, 2);
    } else if (len >= 65536) {
      head[0] = 0x80 | opcode;
      head[1] = 127;
      head.writeBigUInt64BE(BigInt(len), 2);
    }
    return Buffer.concat([head, payload]);
  };
  const api = {
    sendText(text) {
      if (!closed && socket.writable) socket.write(frame(0x1, Buffer.from(text, "utf8")));
    },
    destroy() {
      if (closed) return;
      closed = true;
      socket.destroy();
      onClose();
    },
  };

  socket.on("data", (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      if (buf.length < 2) return;
      const fin = (buf[0] & 0x80) !== 0;
      const opcode = buf[0] & 0x0f;
      const masked = (buf[1] & 0x80) !== 0;
      let len = buf[1] & 0x7f;
      let off = 2;
      if (len === 126) {
        if (buf.length < 4) return;
        len = buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (buf.length < 10) return;
        len = Number(buf.readBigUInt64BE(2));
        off = 10;
      }
      const maskOff = off;
      if (masked) off += 4;
      if (buf.length < off + len) return;
      const payload = Buffer.from(buf.subarray(off, off + len));
      if (masked) for (let i = 0; i < payload.length; i++) payload[i] ^= buf[maskOff + (i % 4)];
      buf = buf.subarray(off + len);

      if (opcode === 0x8) {
        if (!closed && socket.writable) socket.end(frame(0x8, payload.subarray(0, 2)));
        closed = true;
        onClose();
        return;
      }
      if (opcode === 0x9) {
        socket.write(frame(0xa, payload));
        continue;
      }
      if (opcode === 0x1 || opcode === 0x0) {
        fragments.push(payload);
        if (fin) {
          const text = Buffer.concat(fragments).toString("utf8");
          fragments = [];
          onText(text);
        }
      }
    }
  });
  socket.on("close", () => {
    if (!closed) {
      closed = true;
      onClose();
    }
  });
  socket.on("error", () => {});
  return api;
}

// Run directly: node web/dev-fake-server.mjs [--port N] [--no-dev-auth]
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const portArg = process.argv.indexOf("--port");
  const port = portArg > 0 ? Number(process.argv[portArg + 1]) : Number(process.env.PORT ?? 8788);
  await startFakeServer({ port, devAuth: !process.argv.includes("--no-dev-auth") });
}
