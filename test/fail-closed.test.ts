/**
 * Issue 16, items 1 and 8: settings whose absence would make the app unsafe or silently broken fail
 * closed. An external identity provider needs AUTH_ISSUER + AUTH_AUDIENCE and verified emails;
 * outside local dev, provisioning and Telegram claims need PUBLIC_URL. /api/health names what is missing.
 */
import { describe, expect, it } from "vitest";
import { env } from "cloudflare:workers";
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { SignJWT, createLocalJWKSet, exportJWK, generateKeyPair } from "jose";
import { router } from "../src/router.ts";
import { deriveUserId, externalIdentity } from "../src/lib/auth.ts";
import { ADMIN, ORIGIN, apiJson, errorCode, jsonInit, newUser } from "./helpers.ts";
import { botToken } from "./telegram-helpers.ts";

const IDP = { AUTH_JWKS_URL: "https://idp.example/.well-known/jwks.json", AUTH_ISSUER: "https://idp.example/", AUTH_AUDIENCE: "soulprint-home" };

/** The whole Worker with some settings changed (objects keep the test configuration). */
async function fetchWith(overrides: Partial<Env>, path: string, init: RequestInit = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const ctx = createExecutionContext();
  const response = await router.fetch(new Request(`${ORIGIN}${path}`, init), { ...env, ...overrides } as Env, ctx);
  await waitOnExecutionContext(ctx);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function identityProvider() {
  const { privateKey, publicKey } = await generateKeyPair("ES256");
  const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256" };
  const keys = createLocalJWKSet({ keys: [jwk] });
  const sign = (claims: Record<string, unknown>, options: { issuer?: string; audience?: string } = {}) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: "ES256", kid: "k1" })
      .setIssuer(options.issuer ?? IDP.AUTH_ISSUER)
      .setAudience(options.audience ?? IDP.AUTH_AUDIENCE)
      .setIssuedAt()
      .setExpirationTime("10m")
      .sign(privateKey);
  return { keys, sign };
}

describe("an external identity provider", () => {
  it("signs in a verified email from the configured issuer and audience", async () => {
    const idp = await identityProvider();
    const token = await idp.sign({ email: "Ext@Example.com", email_verified: true });
    const who = await externalIdentity(token, { ...env, ...IDP }, idp.keys);
    expect(who).toEqual({ email: "ext@example.com", userId: await deriveUserId(env.USER_ID_SALT, "ext@example.com") });
  });

  it("refuses an unverified email, another application's audience and another issuer", async () => {
    const idp = await identityProvider();
    const cases = [
      await idp.sign({ email: "a@example.com", email_verified: false }),
      await idp.sign({ email: "a@example.com" }),
      await idp.sign({ email: "a@example.com", email_verified: "true" }),
      await idp.sign({ email: "a@example.com", email_verified: true }, { audience: "another-app" }),
      await idp.sign({ email: "a@example.com", email_verified: true }, { issuer: "https://evil.example/" }),
    ];
    for (const token of cases) {
      await expect(externalIdentity(token, { ...env, ...IDP }, idp.keys)).rejects.toMatchObject({ status: 401, code: "unauthorized" });
    }
  });

  it("is refused without AUTH_ISSUER and AUTH_AUDIENCE, even for a well-signed token, and /api/health says so", async () => {
    const idp = await identityProvider();
    const token = await idp.sign({ email: "a@example.com", email_verified: true });
    const loose = { ...IDP, AUTH_ISSUER: "", AUTH_AUDIENCE: "" };
    await expect(externalIdentity(token, { ...env, ...loose }, idp.keys)).rejects.toMatchObject({ status: 503, code: "not_configured" });
    const me = await fetchWith(loose, "/api/me", { headers: { authorization: `Bearer ${token}` } });
    expect(me.status).toBe(503);
    expect(errorCode(me.body)).toBe("not_configured");
    const health = await fetchWith(loose, "/api/health");
    expect(health.body.missing).toEqual(expect.arrayContaining(["AUTH_ISSUER", "AUTH_AUDIENCE"]));
    expect((await fetchWith(IDP, "/api/health")).body.missing).not.toContain("AUTH_ISSUER");
  });

  it("leaves our own tokens working whatever the external settings", async () => {
    const user = await newUser();
    const me = await fetchWith({ ...IDP, AUTH_ISSUER: "" }, "/api/me", { headers: user.auth });
    expect(me.status).toBe(200);
  });
});

describe("PUBLIC_URL outside local dev", () => {
  it("is listed by /api/health when unset, except under local dev", async () => {
    expect((await fetchWith({ PUBLIC_URL: "" }, "/api/health")).body.missing).toContain("PUBLIC_URL");
    expect((await fetchWith({ PUBLIC_URL: "", ALLOW_EMAIL_AUTH: "true" }, "/api/health")).body.missing).not.toContain("PUBLIC_URL");
    expect((await apiJson("/api/health")).body.missing).not.toContain("PUBLIC_URL");
  });

  it("refuses provisioning and Telegram claims with a clear error, and nothing starts", async () => {
    const user = await newUser();
    await apiJson(`/api/admin/users/${encodeURIComponent(user.email)}/tier`, jsonInit("PUT", { tier: "paid" }, ADMIN));
    const provision = await fetchWith({ PUBLIC_URL: "" }, "/api/fly/provision", { method: "POST", headers: user.auth });
    expect(provision.status).toBe(503);
    expect(errorCode(provision.body)).toBe("public_url_missing");
    const claim = await fetchWith({ PUBLIC_URL: "" }, "/api/telegram/claim", jsonInit("POST", { botToken: botToken() }, user.auth));
    expect(claim.status).toBe(503);
    expect(errorCode(claim.body)).toBe("public_url_missing");
    const me = await apiJson<{ fly: { state: string }; telegram: { claimed: boolean } }>("/api/me", { headers: user.auth });
    expect(me.body.fly.state).toBe("none");
    expect(me.body.telegram.claimed).toBe(false);
  });
});
