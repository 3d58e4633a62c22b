import { afterEach, describe, expect, it, vi } from "vitest";
import { env } from "cloudflare:workers";
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { sha256Hex, timingSafeEqualStr } from "../src/lib/crypto.ts";
import { userLogHash } from "../src/lib/request-log.ts";
import type { UserActor } from "../src/actors/user-actor.ts";
import { ADMIN, api, apiJson, jsonInit, newUser } from "./helpers.ts";
import { scenario, script } from "./bedrock-control.ts";

const SECRET_NAMES = ["AUTH_SECRET", "USER_ID_SALT", "ADMIN_TOKEN", "ENCRYPTION_KEY", "AWS_SECRET_ACCESS_KEY", "FLY_API_TOKEN"] as const;

function captureLogs(): string[] {
  const lines: string[] = [];
  for (const method of ["log", "warn", "error", "info", "debug"] as const) {
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => void lines.push(args.map(String).join(" ")));
  }
  return lines;
}

afterEach(() => vi.restoreAllMocks());

describe("secrets", () => {
  it("never appear in any response body, header or log line", async () => {
    const logs = captureLogs();
    const user = await newUser();
    const { key, tag } = scenario();
    await script(key, [{ text: "fine" }, { error: "validation" }]);
    const seen: string[] = [];
    const record = async (response: Response) => {
      seen.push(JSON.stringify([...response.headers]), await response.text());
    };
    await record(await api("/api/health"));
    await record(await api("/api/me", { headers: user.auth }));
    await record(await api("/api/chat", jsonInit("POST", { text: `hi ${tag}` }, { ...user.auth, accept: "application/json" })));
    await record(await api("/api/chat", jsonInit("POST", { text: `fail ${tag}` }, { ...user.auth, accept: "application/json" })));
    await record(await api("/api/auth/token", jsonInit("POST", { email: "x@example.com" }, { authorization: "Bearer wrong" })));
    await record(await api("/api/auth/token", jsonInit("POST", { email: "x@example.com" }, ADMIN)));
    await record(await api("/api/me", { headers: { authorization: `Bearer ${user.token}tampered` } }));
    await record(await api("/api/fly/provision", { method: "POST", headers: user.auth }));
    await record(await api("/api/chat/ticket", { method: "POST", headers: user.auth }));
    const everything = [...seen, ...logs].join("\n");
    for (const name of SECRET_NAMES) {
      const value = env[name];
      expect(value.length).toBeGreaterThan(8);
      expect(everything.includes(value), name).toBe(false);
    }
    expect(logs.join("\n")).not.toContain(user.token);
    expect(logs.join("\n")).not.toContain(user.email);
  });
});

describe("logging", () => {
  it("writes one structured line per request with a hashed user, never the user id", async () => {
    const logs = captureLogs();
    const user = await newUser();
    const response = await api("/api/workspace", { headers: user.auth });
    expect(response.headers.get("x-request-id")).toBeTruthy();
    const lines = logs.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.event === "request");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ method: "GET", route: "/api/workspace", status: 200, requestId: response.headers.get("x-request-id") });
    expect(typeof lines[0]!.ms).toBe("number");
    expect(lines[0]!.user).toMatch(/^[0-9a-f]{12}$/);
    expect(JSON.stringify(lines[0])).not.toContain(user.userId);
  });
});

describe("the log hash", () => {
  it("is keyed: not the plain SHA-256 anyone could recompute from a public user id, and it changes with the secret", async () => {
    const user = await newUser();
    const keyed = await userLogHash(env, user.userId);
    expect(keyed).toMatch(/^[0-9a-f]{12}$/);
    expect(keyed).not.toBe((await sha256Hex(`log:${user.userId}`)).slice(0, 12));
    expect(keyed).not.toBe((await sha256Hex(user.userId)).slice(0, 12));
    expect(await userLogHash({ ...env, AUTH_SECRET: "another-deployment-secret-0123456789" }, user.userId)).not.toBe(keyed);
    expect(await userLogHash(env, user.userId)).toBe(keyed);
  });
});

describe("reply logging", () => {
  it("writes one line per reply with its route, cost and upstream calls, never its text", async () => {
    const logs = captureLogs();
    const user = await newUser();
    const { key, tag } = scenario();
    await script(key, [{ text: "a private reply" }]);
    await api("/api/chat", jsonInit("POST", { text: `a private question ${tag}` }, { ...user.auth, accept: "application/json" }));
    const line = logs.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.event === "reply");
    expect(line).toMatchObject({ channel: "http", via: "bedrock", status: "done", upstream: { bedrock: 1 }, user: await userLogHash(env, user.userId) });
    expect(JSON.stringify(line)).not.toContain("private");
  });
});

describe("job logging", () => {
  it("writes one line per job with the owner's log hash, never the user id", async () => {
    const logs = captureLogs();
    const user = await newUser();
    await api("/api/me", { headers: user.auth });
    const stub = env.USER_ACTOR.get(env.USER_ACTOR.idFromName(user.userId));
    await runInDurableObject(stub, async (actor: UserActor) => {
      actor.jobs.define("test_logged", { run: async () => {} });
      await actor.jobs.schedule("test_logged", 60_000);
      actor.sql.run("UPDATE jobs SET due_at = 0 WHERE kind = 'test_logged'");
    });
    await runDurableObjectAlarm(stub);
    const line = logs.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.event === "job" && l.kind === "test_logged");
    expect(line).toMatchObject({ ok: true, user: await userLogHash(env, user.userId) });
    expect(JSON.stringify(line)).not.toContain(user.userId);
  });
});

describe("constant-time comparison", () => {
  it("compares equal strings as equal and any difference, length included, as different", () => {
    expect(timingSafeEqualStr("same-token", "same-token")).toBe(true);
    expect(timingSafeEqualStr("same-token", "same-tokeN")).toBe(false);
    expect(timingSafeEqualStr("short", "longer-value")).toBe(false);
    expect(timingSafeEqualStr("", "")).toBe(true);
    expect(timingSafeEqualStr("é", "e")).toBe(false);
  });
});

describe("CORS and headers", () => {
  it("answers a cross-origin preflight without allowing the origin", async () => {
    const response = await api("/api/me", { method: "OPTIONS", headers: { origin: "https://evil.example", "access-control-request-method": "GET", "access-control-request-headers": "authorization" } });
    expect(response.status).toBe(204);
    expect(response.headers.get("access-control-allow-origin")).toBeNull();
    expect(response.headers.get("access-control-allow-headers")).toBeNull();
    const normal = await api("/api/health", { headers: { origin: "https://evil.example" } });
    expect(normal.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("marks API responses nosniff, unframeable and uncacheable", async () => {
    const response = await api("/api/health");
    expect(response.headers.get("x-content-type-options")).toBe("nosniff");
    expect(response.headers.get("x-frame-options")).toBe("DENY");
    expect(response.headers.get("cache-control")).toBe("no-store");
  });
});

describe("rate limits", () => {
  it("refuses wrong admin tokens from one address after a few, locking that address out, while other addresses are unaffected", async () => {
    const ip = `203.0.113.${Math.floor(Math.random() * 200) + 1}`;
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++) {
      const response = await api("/api/auth/token", jsonInit("POST", { email: "x@example.com" }, { authorization: "Bearer wrong", "cf-connecting-ip": ip }));
      statuses.push(response.status);
      if (response.status === 429) {
        expect(response.headers.get("retry-after")).toBe("60");
        break;
      }
    }
    expect(statuses.at(-1)).toBe(429);
    expect(statuses.length).toBeLessThanOrEqual(11);
    // Locked out: even the right token is refused from there, so a lucky guess is not revealed.
    const locked = await api("/api/auth/token", jsonInit("POST", { email: "x@example.com" }, { ...ADMIN, "cf-connecting-ip": ip }));
    expect(locked.status).toBe(429);
    const pool = await api("/api/admin/telegram/pool", { headers: { authorization: "Bearer wrong", "cf-connecting-ip": ip } });
    expect(pool.status).toBe(429);
    const other = await api("/api/auth/token", jsonInit("POST", { email: "x@example.com" }, { authorization: "Bearer wrong", "cf-connecting-ip": "198.51.100.7" }));
    expect(other.status).toBe(401);
  });

  it("lets a valid operator mint 1,000 tokens in a minute from one address without a 429", async () => {
    const ip = `198.18.${Math.floor(Math.random() * 200)}.${Math.floor(Math.random() * 200) + 1}`;
    const statuses = new Map<number, number>();
    for (let batch = 0; batch < 20; batch++) {
      const responses = await Promise.all(
        Array.from({ length: 50 }, (_, i) => api("/api/auth/token", jsonInit("POST", { email: `op-${batch}-${i}@example.com`, ttlSeconds: 600 }, { ...ADMIN, "cf-connecting-ip": ip }))),
      );
      for (const response of responses) {
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        await response.body?.cancel();
      }
    }
    expect(Object.fromEntries(statuses)).toEqual({ 201: 1000 });
  });

  it("limits chat messages per user", async () => {
    const user = await newUser();
    let limited = false;
    for (let i = 0; i < 70 && !limited; i++) {
      const { status } = await apiJson("/api/chat", jsonInit("POST", { id: `x ${i}`, text: "bad id so nothing is stored" }, user.auth));
      limited = status === 429;
    }
    expect(limited).toBe(true);
  });
});

describe("the user object's RPC surface", () => {
  it("offers only its RPC methods: the helpers that skip identity and token checks are not callable", async () => {
    const user = await newUser("rpc-surface");
    const stub = env.USER_ACTOR.get(env.USER_ACTOR.idFromName(user.userId)) as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
    const who = { userId: user.userId, email: user.email };
    // A public RPC method answers (and records the owner on first contact)...
    await expect(stub.me!(who)).resolves.toMatchObject({ ok: true });
    // ...while the internals that would bypass asUser / asContainer are not reachable over RPC.
    for (const name of ["asUser", "asContainer", "identify", "requireProfile", "deletionHost", "describeMe", "onSocketFrame"]) {
      await expect(Promise.resolve().then(() => stub[name]!(who, () => "reached")), name).rejects.toThrow();
    }
  });
});
