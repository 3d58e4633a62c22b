/**
 * A generated suite of malformed requests across every route: no 5xx, every error in the API.md
 * shape, and nothing a user stored changes.
 */
import { describe, expect, it } from "vitest";
import { env } from "cloudflare:workers";
import { ADMIN, api, newUser, type TestUser } from "./helpers.ts";
import { connect } from "./ws-client.ts";

interface Case {
  label: string;
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

const WEIRD_STRINGS = [
  "", " ", "\u0000", "\ud800", "\udfff", "\u202e\u202dRTL", "🦊".repeat(5000), "x".repeat(70_000), "../../etc/passwd", "%2e%2e%2f", "<script>alert(1)</script>",
  "' OR 1=1 --", "${7*7}", "\u0085\u2028\u2029", "🏳️‍🌈👩‍👩‍👧‍👦", "a\u0301\u0301\u0301", "\uffff\ufffe", "C:\\Windows\\system32", "/etc/shadow", "%00", "SOUL.md/../../x", "\r\nX-Injected: 1", "null", "[]", "{}", "NaN", "-1", "1e309", "\\u0000", "ｓｏｕｌ．ｍｄ", "SOUL.md\u0000.txt", "İ", "\ufeffSOUL.md",
];
const BAD_JSON = ["{", "[1,2", '{"a":}', "nul", '{"text": "unterminated', "\u0000", "{}}", '{"a":1}garbage', "\ufeff{}", "[]", "42", '"str"', "null", "true"];
const WRONG_TYPES: Record<string, unknown>[] = [
  { text: 1 }, { text: null }, { text: [] }, { text: {} }, { text: true }, { id: 5, text: "x" }, { id: [], text: "x" }, { id: "a b", text: "x" }, { id: "x".repeat(65), text: "x" },
  { chatMode: 1 }, { chatMode: "AUTO" }, { chatMode: null }, { email: 7 }, { email: "a@" }, { email: "@b.c" }, { email: "a b@c.d" }, { ttlSeconds: "60", email: "a@b.co" },
  { ttlSeconds: -1, email: "a@b.co" }, { ttlSeconds: 1e12, email: "a@b.co" }, { tier: "gold" }, { tier: 1 }, { tier: null }, { botToken: 12 }, { botToken: "not-a-token" },
];

/** Percent-encodes, sending a lone surrogate as its raw (invalid UTF-8) bytes instead of throwing. */
function enc(value: string): string {
  try {
    return encodeURIComponent(value);
  } catch {
    return "%ED%A0%80";
  }
}

function cases(user: TestUser): Case[] {
  const out: Case[] = [];
  const auth = user.auth;
  const json = { ...auth, "content-type": "application/json" };
  // Bad JSON and wrong types on every JSON endpoint.
  const jsonEndpoints: [string, string, Record<string, string>][] = [
    ["PATCH", "/api/me", json],
    ["POST", "/api/chat", json],
    ["POST", "/api/auth/token", { ...ADMIN, "content-type": "application/json" }],
    ["PUT", `/api/admin/users/${encodeURIComponent(user.email)}/tier`, { ...ADMIN, "content-type": "application/json" }],
    ["POST", "/api/telegram/claim", json],
  ];
  for (const [method, path, headers] of jsonEndpoints) {
    for (const body of BAD_JSON) out.push({ label: `bad json ${body.slice(0, 10)}`, method, path, headers, body });
    for (const body of WRONG_TYPES) {
      // Skip bodies that are valid for that endpoint (they would legitimately change state).
      if (path === "/api/chat" && !("id" in body) && typeof body.text === "string") continue;
      if (path.endsWith("/tier") && (body.tier === "free" || body.tier === "paid")) continue;
      if (path === "/api/auth/token" && typeof body.email === "string" && /^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(body.email) && body.ttlSeconds === undefined) continue;
      if (path === "/api/telegram/claim" && !("botToken" in body)) continue;
      out.push({ label: `wrong types ${JSON.stringify(body).slice(0, 30)}`, method, path, headers, body: JSON.stringify(body) });
    }
    out.push({ label: "wrong content type", method, path, headers: { ...headers, "content-type": "text/plain" }, body: "{}" });
    out.push({ label: "huge body", method, path, headers, body: JSON.stringify({ text: "x".repeat(400_000) }) });
  }
  // Weird file names and contents on every workspace route.
  for (const weird of WEIRD_STRINGS) {
    const name = enc(weird.slice(0, 300));
    for (const method of ["GET", "PUT", "DELETE"]) {
      out.push({ label: `file ${method} ${weird.slice(0, 12)}`, method, path: `/api/workspace/${name}`, headers: { ...auth, "content-type": "text/markdown" }, body: method === "PUT" ? "content" : undefined });
    }
    out.push({ label: `versions ${weird.slice(0, 12)}`, method: "GET", path: `/api/workspace/${name}/versions`, headers: auth });
    out.push({ label: `history before ${weird.slice(0, 12)}`, method: "GET", path: `/api/chat/history?before=${name}&limit=${enc(weird.slice(0, 20))}`, headers: auth });
    out.push({ label: `usage days ${weird.slice(0, 12)}`, method: "GET", path: `/api/usage?days=${enc(weird.slice(0, 20))}`, headers: auth });
    out.push({ label: `image ${weird.slice(0, 12)}`, method: "GET", path: `/api/images/${name}`, headers: auth });
    out.push({ label: `webhook ${weird.slice(0, 12)}`, method: "POST", path: `/telegram/webhook/${name}`, headers: { "content-type": "application/json", "x-telegram-bot-api-secret-token": weird.replace(/[^\x20-\x7e]/g, "") }, body: "{}" });
    out.push({ label: `container ${weird.slice(0, 12)}`, method: "PUT", path: "/api/container/workspace/MEMORY.md", headers: { authorization: `Bearer ${weird.replace(/[^\x21-\x7e]/g, "") || "x"}`, "x-soulprint-user": user.userId }, body: "hijack" });
    out.push({ label: `ticket ${weird.slice(0, 12)}`, method: "GET", path: `/api/chat?ticket=${name}`, headers: { upgrade: "websocket" } });
    out.push({ label: `email tier ${weird.slice(0, 12)}`, method: "PUT", path: `/api/admin/users/${name}/tier`, headers: { ...ADMIN, "content-type": "application/json" }, body: '{"tier":"paid"}' });
  }
  // Weird values in every JSON field (none of them valid for that field).
  const invalidId = (w: string) => w === "" || w.length > 64 || /[^\x21-\x7e]/.test(w);
  for (const weird of WEIRD_STRINGS) {
    out.push({ label: `chatMode ${weird.slice(0, 12)}`, method: "PATCH", path: "/api/me", headers: json, body: JSON.stringify({ chatMode: weird }) });
    out.push({ label: `email ${weird.slice(0, 12)}`, method: "POST", path: "/api/auth/token", headers: { ...ADMIN, "content-type": "application/json" }, body: JSON.stringify({ email: weird }) });
    out.push({ label: `tier ${weird.slice(0, 12)}`, method: "PUT", path: `/api/admin/users/${encodeURIComponent(user.email)}/tier`, headers: { ...ADMIN, "content-type": "application/json" }, body: JSON.stringify({ tier: weird }) });
    if (invalidId(weird)) out.push({ label: `chat id ${weird.slice(0, 12)}`, method: "POST", path: "/api/chat", headers: json, body: JSON.stringify({ id: weird, text: "hello" }) });
    if (weird.trim() === "") out.push({ label: `chat text ${JSON.stringify(weird)}`, method: "POST", path: "/api/chat", headers: json, body: JSON.stringify({ text: weird }) });
    for (const type of ["application/json", "image/png", "multipart/form-data; boundary=x", "text/html", "application/x-www-form-urlencoded"]) {
      out.push({ label: `file type ${type} ${weird.slice(0, 8)}`, method: "PUT", path: "/api/workspace/SOUL.md", headers: { ...auth, "content-type": type }, body: weird });
    }
  }
  // Every route with no, broken and hostile credentials.
  const routes: [string, string][] = [
    ["GET", "/api/me"], ["PATCH", "/api/me"], ["GET", "/api/workspace"], ["GET", "/api/workspace/SOUL.md"], ["PUT", "/api/workspace/SOUL.md"], ["DELETE", "/api/workspace/SOUL.md"],
    ["GET", "/api/workspace/SOUL.md/versions"], ["GET", "/api/chat/history"], ["POST", "/api/chat"], ["POST", "/api/chat/ticket"], ["GET", "/api/usage"], ["GET", "/api/images/img_abc"],
    ["GET", "/api/fly/status"], ["POST", "/api/fly/provision"], ["POST", "/api/fly/sync"], ["DELETE", "/api/fly/app"], ["POST", "/api/telegram/claim"], ["DELETE", "/api/telegram/claim"],
    ["POST", "/api/auth/token"], ["PUT", `/api/admin/users/${encodeURIComponent(user.email)}/tier`], ["POST", "/api/admin/telegram/pool"], ["GET", "/api/admin/telegram/pool"],
  ];
  const badAuth = ["", "Bearer", "Bearer ", "Bearer x.y.z", "Basic dXNlcjpwYXNz", `Email ${user.email}`, "Bearer " + "a".repeat(10_000), `Bearer ${user.token}x`, `Bearer ${user.token.split(".").slice(0, 2).join(".")}.`, "bearer\tnope", `Bearer ${env.ADMIN_TOKEN.slice(0, -1)}`];
  for (const [method, path] of routes) {
    for (const authorization of badAuth) {
      const headers: Record<string, string> = { "content-type": "application/json" };
      if (authorization) headers.authorization = authorization;
      out.push({ label: `auth ${method} ${path} ${authorization.slice(0, 12)}`, method, path, headers, body: method === "GET" || method === "DELETE" ? undefined : "{}" });
    }
    // Methods a route does not have (a real route under that method would be a valid request).
    for (const method2 of ["PUT", "OPTIONS", "TRACE", "PATCH"]) {
      if (!routes.some(([m, p]) => m === method2 && p === path)) out.push({ label: `method ${method2} ${path}`, method: method2, path, headers: auth });
    }
  }
  return out;
}

async function snapshot(user: TestUser): Promise<string> {
  const parts = await Promise.all(["/api/me", "/api/workspace", "/api/chat/history?limit=200", "/api/fly/status"].map(async (path) => (await api(path, { headers: user.auth })).text()));
  return parts.map((p) => p.replace(/"lastSyncAt":"[^"]*"/g, "")).join("\n");
}

describe("hostile input", () => {
  it("answers at least 1,000 malformed requests with 4xx JSON errors and changes nothing", async () => {
    const user = await newUser("hostile");
    const other = await newUser("bystander");
    const before = [await snapshot(user), await snapshot(other)];
    const all = cases(user);
    expect(all.length).toBeGreaterThanOrEqual(1000);
    const failures: string[] = [];
    for (let i = 0; i < all.length; i += 25) {
      await Promise.all(all.slice(i, i + 25).map(async (c) => {
        let response: Response;
        try {
          response = await api(c.path, { method: c.method, headers: c.headers, body: c.body });
        } catch (error) {
          // A request the runtime refuses to even build (e.g. an invalid header) never reaches us.
          if (error instanceof TypeError) return;
          throw error;
        }
        const text = await response.text();
        if (response.status >= 500) failures.push(`${c.label}: ${response.status} ${text.slice(0, 120)}`);
        if (response.status >= 400 && response.status !== 405 && c.method === "OPTIONS") return;
        if (response.status >= 400) {
          let body: { error?: { code?: unknown; message?: unknown } } | null = null;
          try {
            body = JSON.parse(text);
          } catch {
            failures.push(`${c.label}: non-JSON error body ${text.slice(0, 80)}`);
          }
          if (body && (typeof body.error?.code !== "string" || typeof body.error?.message !== "string")) failures.push(`${c.label}: bad error shape ${text.slice(0, 80)}`);
          if (/at .*\.ts:\d+|stack|AKID|test-auth-secret|test-admin-token/.test(text)) failures.push(`${c.label}: leaks internals ${text.slice(0, 80)}`);
        }
      }));
    }
    expect(failures).toEqual([]);
    expect([await snapshot(user), await snapshot(other)]).toEqual(before);
  });

  it("keeps a WebSocket open through 100 malformed frames and answers each with an error frame", async () => {
    const user = await newUser("hostile-ws");
    const { socket } = await connect(user);
    await socket!.next((f) => f.type === "hello");
    const frames = [...BAD_JSON, ...WEIRD_STRINGS.map((w) => JSON.stringify({ type: w })), ...WRONG_TYPES.map((b) => JSON.stringify({ type: "chat", ...b, id: b.id ?? 99 }))];
    let sent = 0;
    for (const frame of frames.slice(0, 100)) {
      socket!.send(frame);
      sent++;
      if (sent % 15 === 0) await new Promise((r) => setTimeout(r, 1100)); // stay under the rate limit
    }
    await new Promise((r) => setTimeout(r, 300));
    const errors = socket!.frames.filter((f) => f.type === "error");
    expect(errors.length).toBe(sent);
    expect(socket!.closed).toBe(false);
    const history = await (await api("/api/chat/history", { headers: user.auth })).json() as { messages: unknown[] };
    expect(history.messages).toHaveLength(0);
    socket!.close();
  }, 60_000);
});
