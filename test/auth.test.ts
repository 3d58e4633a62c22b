import { describe, expect, it } from "vitest";
import { env } from "cloudflare:workers";
import { SignJWT } from "jose";
import worker from "../src/index.ts";
import { deriveUserId } from "../src/lib/auth.ts";
import { ADMIN, api, apiJson, errorCode, jsonInit, newUser, uniqueEmail } from "./helpers.ts";

const secret = new TextEncoder().encode(env.AUTH_SECRET);

async function signed(claims: Record<string, unknown>, options: { key?: Uint8Array; alg?: string } = {}) {
  return new SignJWT(claims).setProtectedHeader({ alg: options.alg ?? "HS256" }).sign(options.key ?? secret);
}

function b64url(value: object): string {
  return btoa(JSON.stringify(value)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

async function meStatus(token: string): Promise<{ status: number; code?: string }> {
  const { status, body } = await apiJson("/api/me", { headers: { authorization: `Bearer ${token}` } });
  return { status, code: status === 200 ? undefined : errorCode(body) };
}

describe("health and errors", () => {
  it("reports health without credentials", async () => {
    const { status, body } = await apiJson<{ ok: boolean; version: string }>("/api/health");
    expect(status).toBe(200);
    expect(body.ok).toBe(true);
    expect(body.version).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it("answers unknown API paths with a JSON 404 and wrong methods with a JSON 405 and Allow", async () => {
    const missing = await apiJson("/api/nope");
    expect(missing.status).toBe(404);
    expect(errorCode(missing.body)).toBe("not_found");
    const wrong = await apiJson("/api/health", { method: "POST" });
    expect(wrong.status).toBe(405);
    expect(errorCode(wrong.body)).toBe("method_not_allowed");
    expect(wrong.headers.get("allow")).toContain("GET");
  });
});

describe("minting tokens", () => {
  it("mints a token for an email with the admin token, and the token works", async () => {
    const email = uniqueEmail("mint");
    const { status, body } = await apiJson<{ token: string; userId: string; expiresAt: string }>("/api/auth/token", jsonInit("POST", { email: `  ${email.toUpperCase()} `, ttlSeconds: 600 }, ADMIN));
    expect(status).toBe(201);
    expect(body.userId).toBe(await deriveUserId(env.USER_ID_SALT, email));
    expect(body.userId).toMatch(/^[0-9a-f]{20}$/);
    expect(new Date(body.expiresAt).getTime()).toBeGreaterThan(Date.now() + 500_000);
    const me = await apiJson<{ email: string; userId: string; tier: string }>("/api/me", { headers: { authorization: `Bearer ${body.token}` } });
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ email, userId: body.userId, tier: "free" });
  });

  it("refuses a wrong admin token with 401 and an invalid email with 400", async () => {
    const wrong = await apiJson("/api/auth/token", jsonInit("POST", { email: "a@example.com" }, { authorization: `Bearer ${env.ADMIN_TOKEN}x` }));
    expect(wrong.status).toBe(401);
    const bad = await apiJson("/api/auth/token", jsonInit("POST", { email: "not-an-email" }, ADMIN));
    expect(bad.status).toBe(400);
    expect(errorCode(bad.body)).toBe("invalid_email");
  });

  it("keys user ids by the salt, so ids do not reveal the email", async () => {
    const a = await deriveUserId("salt-one", "x@example.com");
    const b = await deriveUserId("salt-two", "x@example.com");
    expect(a).not.toBe(b);
    expect(await deriveUserId("salt-one", " X@Example.com ")).toBe(a);
  });
});

describe("rejecting bad tokens", () => {
  it("rejects a token signed with another secret", async () => {
    const user = await newUser();
    const now = Math.floor(Date.now() / 1000);
    const token = await signed({ sub: user.userId, email: user.email, aud: "soulprint", iat: now, exp: now + 600 }, { key: new TextEncoder().encode("another-secret-of-enough-length-123") });
    expect(await meStatus(token)).toEqual({ status: 401, code: "unauthorized" });
  });

  it("rejects alg none", async () => {
    const user = await newUser();
    const now = Math.floor(Date.now() / 1000);
    const token = `${b64url({ alg: "none", typ: "JWT" })}.${b64url({ sub: user.userId, email: user.email, aud: "soulprint", iat: now, exp: now + 600 })}.`;
    expect((await meStatus(token)).status).toBe(401);
  });

  it("rejects an expired token", async () => {
    const user = await newUser();
    const now = Math.floor(Date.now() / 1000);
    const token = await signed({ sub: user.userId, email: user.email, aud: "soulprint", iat: now - 1000, exp: now - 10 });
    expect((await meStatus(token)).status).toBe(401);
  });

  it("rejects the wrong audience and missing claims", async () => {
    const user = await newUser();
    const now = Math.floor(Date.now() / 1000);
    expect((await meStatus(await signed({ sub: user.userId, email: user.email, aud: "other", iat: now, exp: now + 600 }))).status).toBe(401);
    expect((await meStatus(await signed({ sub: user.userId, email: user.email, aud: "soulprint", iat: now }))).status).toBe(401);
    expect((await meStatus(await signed({ email: user.email, aud: "soulprint", iat: now, exp: now + 600 }))).status).toBe(401);
  });

  it("rejects a token whose subject was pointed at another user's object", async () => {
    const victim = await newUser("victim");
    const attacker = await newUser("attacker");
    const now = Math.floor(Date.now() / 1000);
    const token = await signed({ sub: victim.userId, email: attacker.email, aud: "soulprint", iat: now, exp: now + 600 });
    expect((await meStatus(token)).status).toBe(401);
  });

  it("rejects HS384 even with the right secret (the algorithm is pinned)", async () => {
    const user = await newUser();
    const now = Math.floor(Date.now() / 1000);
    const token = await signed({ sub: user.userId, email: user.email, aud: "soulprint", iat: now, exp: now + 600 }, { alg: "HS384" });
    expect((await meStatus(token)).status).toBe(401);
  });

  it("asks for a bearer token when none is sent", async () => {
    const { status, body, headers } = await apiJson("/api/me");
    expect(status).toBe(401);
    expect(errorCode(body)).toBe("unauthorized");
    expect(headers.get("www-authenticate")).toContain("Bearer");
  });
});

describe("the seed's Email header", () => {
  it("is refused with a hint to use a bearer token unless ALLOW_EMAIL_AUTH=true", async () => {
    const { status, body } = await apiJson<{ error: { message: string } }>("/api/me", { headers: { authorization: "Email someone@example.com" } });
    expect(status).toBe(401);
    expect(body.error.message).toMatch(/Bearer/);
  });

  it("works where ALLOW_EMAIL_AUTH=true (local development)", async () => {
    const email = uniqueEmail("dev");
    const devEnv = { ...env, ALLOW_EMAIL_AUTH: "true" };
    const ctx = { waitUntil() {}, passThroughOnException() {}, props: {} } as unknown as ExecutionContext;
    const response = await worker.fetch(new Request("http://soulprint.test/api/me", { headers: { authorization: `Email ${email}` } }), devEnv, ctx);
    expect(response.status).toBe(200);
    expect(((await response.json()) as { email: string }).email).toBe(email);
  });
});

describe("admin: tiers", () => {
  it("sets a user's tier with the admin token only", async () => {
    const user = await newUser();
    const denied = await apiJson(`/api/admin/users/${encodeURIComponent(user.email)}/tier`, jsonInit("PUT", { tier: "paid" }, user.auth));
    expect(denied.status).toBe(401);
    const invalid = await apiJson(`/api/admin/users/${encodeURIComponent(user.email)}/tier`, jsonInit("PUT", { tier: "gold" }, ADMIN));
    expect(invalid.status).toBe(400);
    const set = await apiJson(`/api/admin/users/${encodeURIComponent(user.email)}/tier`, jsonInit("PUT", { tier: "paid" }, ADMIN));
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({ tier: "paid", userId: user.userId });
    const me = await apiJson<{ tier: string }>("/api/me", { headers: user.auth });
    expect(me.body.tier).toBe("paid");
  });

  it("changes the chat mode with PATCH /api/me and refuses other values", async () => {
    const user = await newUser();
    const ok = await apiJson<{ chatMode: string }>("/api/me", jsonInit("PATCH", { chatMode: "direct" }, user.auth));
    expect(ok.body.chatMode).toBe("direct");
    const bad = await apiJson("/api/me", jsonInit("PATCH", { chatMode: "turbo" }, user.auth));
    expect(bad.status).toBe(400);
    const notJson = await api("/api/me", { method: "PATCH", headers: { ...user.auth, "content-type": "application/json" }, body: "{nope" });
    expect(notJson.status).toBe(400);
    const me = await apiJson<{ chatMode: string }>("/api/me", { headers: user.auth });
    expect(me.body.chatMode).toBe("direct");
  });
});
