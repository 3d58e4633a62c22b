/**
 * Issue 16, item 2: unauthenticated requests never create or wake an object. WebSocket tickets and
 * container gateway tokens are HMACs the Worker checks before routing; the object then checks that a
 * gateway token is the one it issued last (revocation by epoch).
 */
import { describe, expect, it } from "vitest";
import { env } from "cloudflare:workers";
import { listDurableObjectIds, runInDurableObject } from "cloudflare:test";
import type { UserActor } from "../src/actors/user-actor.ts";
import { mintGatewayToken, verifyGatewayToken } from "../src/lib/gateway-token.ts";
import { verifyTicket } from "../src/lib/tickets.ts";
import { api, apiJson, errorCode, newUser } from "./helpers.ts";
import { connect } from "./ws-client.ts";
import { driveUntil, flyUser, inspectApp, withFly } from "./fly-helpers.ts";

function randomUserId(): string {
  return [...crypto.getRandomValues(new Uint8Array(10))].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function objectExists(userId: string): Promise<boolean> {
  const wanted = env.USER_ACTOR.idFromName(userId);
  return (await listDurableObjectIds(env.USER_ACTOR)).some((id) => id.equals(wanted));
}

const putFile = (token: string, headers: Record<string, string> = {}) =>
  api("/api/container/workspace/MEMORY.md", { method: "PUT", headers: { authorization: `Bearer ${token}`, ...headers }, body: "hijack" });

describe("WebSocket tickets", () => {
  it("refuses made-up tickets at the Worker: no object is created for them", async () => {
    const victim = randomUserId();
    const forged = [`${victim}.${"a".repeat(20)}.x`, `${victim}.${Date.now() + 60_000}.${"A".repeat(24)}.${"B".repeat(43)}`, `${victim}.0123456789abcdef0123`];
    for (const ticket of forged) {
      const attempt = await connect(null, `?ticket=${encodeURIComponent(ticket)}`);
      expect(attempt.status).toBe(401);
      expect(errorCode(await attempt.response.json())).toBe("invalid_ticket");
    }
    expect(await objectExists(victim)).toBe(false);
  });

  it("verifies a real ticket in the Worker, refuses it once expired or altered", async () => {
    const user = await newUser();
    const { body } = await apiJson<{ ticket: string }>("/api/chat/ticket", { method: "POST", headers: user.auth });
    expect(await verifyTicket(env, body.ticket)).toBe(user.userId);
    expect(await verifyTicket(env, body.ticket, Date.now() + 61_000)).toBeNull();
    const [, expiry, nonce, mac] = body.ticket.split(".");
    expect(await verifyTicket(env, `${randomUserId()}.${expiry}.${nonce}.${mac}`)).toBeNull();
    expect(await verifyTicket(env, `${user.userId}.${Number(expiry) + 1000}.${nonce}.${mac}`)).toBeNull();
    const socket = await connect(null, `?ticket=${encodeURIComponent(body.ticket)}`);
    expect(socket.status).toBe(101);
    socket.socket?.close();
  });
});

describe("container gateway tokens", () => {
  it("refuses a forged token or a bare X-SoulPrint-User at the Worker: no object is created", async () => {
    const victim = randomUserId();
    const attempts = [
      putFile("anything", { "x-soulprint-user": victim }),
      putFile(`gw1.${victim}.1.${"A".repeat(43)}`),
      putFile(`gw1.${victim}.1.${"A".repeat(43)}`, { "x-soulprint-user": victim }),
      api("/api/container/workspace/MEMORY.md", { method: "PUT", headers: { "x-soulprint-user": victim }, body: "x" }),
    ];
    for (const response of await Promise.all(attempts)) {
      expect(response.status).toBe(401);
      expect(errorCode(await response.json())).toBe("unauthorized");
    }
    expect(await objectExists(victim)).toBe(false);
  });

  it("takes a user's token for that user alone, and refuses a mismatched X-SoulPrint-User", async () => {
    const user = await flyUser();
    const other = await newUser();
    await api("/api/me", { headers: other.auth });
    await api("/api/fly/provision", { method: "POST", headers: user.auth });
    await driveUntil(user, (s) => s.state === "ready");
    const token = (await withFly(user, (fly) => fly.gatewayToken()))!;
    expect(await verifyGatewayToken(env, token)).toMatchObject({ userId: user.userId });

    // Naming another user in the header does not move the write there.
    const crossed = await putFile(token, { "x-soulprint-user": other.userId });
    expect(crossed.status).toBe(401);
    // The token names its user: the header is optional, and Anthropic's x-api-key works too.
    expect((await putFile(token)).status).toBe(200);
    const viaApiKey = await api("/api/container/workspace/USER.md", { method: "PUT", headers: { "x-api-key": token }, body: "via x-api-key" });
    expect(viaApiKey.status).toBe(200);
    const otherFiles = await apiJson<{ files: { name: string; version: number }[] }>("/api/workspace", { headers: other.auth });
    expect(otherFiles.body.files.find((f) => f.name === "MEMORY.md")?.version).toBe(1);
  });

  it("is revoked by a new epoch: a token with a valid HMAC but an older epoch is refused by the object", async () => {
    const user = await flyUser();
    await api("/api/fly/provision", { method: "POST", headers: user.auth });
    await driveUntil(user, (s) => s.state === "ready");
    const current = (await withFly(user, (fly) => fly.gatewayToken()))!;
    const epoch = Number(current.split(".")[2]);
    const older = await mintGatewayToken(env, user.userId, epoch - 1);
    expect(await verifyGatewayToken(env, older)).not.toBeNull();
    const refused = await putFile(older);
    expect(refused.status).toBe(401);
    expect((await putFile(current)).status).toBe(200);

    // Deleting the app revokes its token; a new app gets a new epoch.
    await api("/api/fly/app", { method: "DELETE", headers: user.auth });
    await driveUntil(user, (s) => s.state === "none");
    expect((await putFile(current)).status).toBe(401);
    await api("/api/fly/provision", { method: "POST", headers: user.auth });
    await driveUntil(user, (s) => s.state === "ready");
    const next = (await withFly(user, (fly) => fly.gatewayToken()))!;
    expect(Number(next.split(".")[2])).toBeGreaterThan(epoch);
    expect((await putFile(current)).status).toBe(401);
  });

  it("replaces a token from before gateway tokens were HMACs with a new-format one, which the app's secrets get", async () => {
    const user = await flyUser();
    await api("/api/fly/provision", { method: "POST", headers: user.auth });
    await driveUntil(user, (s) => s.state === "ready");
    const { encryptSecret } = await import("../src/lib/crypto.ts");
    const legacy = await encryptSecret(env.ENCRYPTION_KEY, "a-random-legacy-token-0123456789abcdefghij");
    const upgraded = await runInDurableObject(user.stub, async (actor: UserActor) => {
      actor.sql.run("UPDATE fly_app SET gateway_token = ?", legacy);
      return actor.fly.gatewayToken();
    });
    expect(upgraded).toMatch(/^gw1\./);
    expect(await verifyGatewayToken(env, upgraded!)).toMatchObject({ userId: user.userId });
    await withFly(user, (fly) => fly.sync());
    expect((await inspectApp(user.app))!.secrets.GATEWAY_TOKEN).toBe(upgraded);
  });
});
