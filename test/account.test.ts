/**
 * Issue 16, item 9: a person owns their data. `GET /api/me/export` is everything stored about them
 * (never a secret); `DELETE /api/me` with their email removes the Fly app (through the deletion
 * saga), the Telegram bot, the images and every stored row, and a new sign-in starts empty.
 */
import { describe, expect, it } from "vitest";
import { env } from "cloudflare:workers";
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import type { UserActor } from "../src/actors/user-actor.ts";
import { imageKey } from "../src/lib/chat/tools.ts";
import { ACCOUNT_DELETE_JOB } from "../src/lib/account-deletion.ts";
import { api, apiJson, errorCode, jsonInit } from "./helpers.ts";
import { scenario, script } from "./bedrock-control.ts";
import { driveUntil, flyUser, inspectApp, withFly, type FlyUser } from "./fly-helpers.ts";
import { botState, botToken, claim } from "./telegram-helpers.ts";

async function populatedUser(): Promise<{ user: FlyUser; bot: string; gatewayToken: string }> {
  const user = await flyUser();
  const { key, tag } = scenario();
  await script(key, [{ text: "a stored reply" }]);
  await api("/api/chat", jsonInit("POST", { text: `remember me ${tag}` }, { ...user.auth, accept: "application/json" }));
  await api("/api/workspace/NOTES.md", { method: "PUT", headers: { ...user.auth, "content-type": "text/markdown" }, body: "first" });
  await api("/api/workspace/NOTES.md", { method: "PUT", headers: { ...user.auth, "content-type": "text/markdown" }, body: "second" });
  await env.IMAGES.put(imageKey(user.userId, "img_export1"), new Uint8Array([137, 80, 78, 71]), { httpMetadata: { contentType: "image/png" }, customMetadata: { alt: "a test image" } });
  const bot = botToken();
  expect((await claim(user, { botToken: bot })).status).toBe(200);
  await api("/api/fly/provision", { method: "POST", headers: user.auth });
  await driveUntil(user, (s) => s.state === "ready");
  const gatewayToken = (await withFly(user, (fly) => fly.gatewayToken()))!;
  return { user, bot, gatewayToken };
}

describe("GET /api/me/export", () => {
  it("is one download of everything stored about the user, without a secret", async () => {
    const { user, bot, gatewayToken } = await populatedUser();
    const response = await api("/api/me/export", { headers: user.auth });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-disposition")).toMatch(/^attachment; filename="soulprint-export-\d{4}-\d{2}-\d{2}\.json"$/);
    const text = await response.text();
    const data = JSON.parse(text) as {
      user: { userId: string; email: string; tier: string };
      workspace: { files: { name: string; content: string; versions: { content: string | null }[] }[] };
      history: { role: string; text: string }[];
      usage: { inputTokens: number }[];
      images: { id: string; data: string; alt: string }[];
      telegram: { claimed: boolean; botUsername?: string };
      fly: { state: string; app: string };
    };
    expect(data.user).toMatchObject({ userId: user.userId, email: user.email, tier: "paid" });
    const notes = data.workspace.files.find((f) => f.name === "NOTES.md")!;
    expect(notes.content).toBe("second");
    expect(notes.versions.map((v) => v.content)).toEqual(["second", "first"]);
    expect(data.history.map((m) => m.text)).toContain("a stored reply");
    expect(data.usage[0]!.inputTokens).toBeGreaterThan(0);
    expect(data.images).toEqual([expect.objectContaining({ id: "img_export1", alt: "a test image", data: "iVBORw==" })]);
    expect(data.telegram).toMatchObject({ claimed: true });
    expect(data.fly).toMatchObject({ state: "ready", app: user.app });
    const webhookSecret = await runInDurableObject(user.stub, async (actor: UserActor) => actor.telegram.store.bot()!.webhookSecret);
    for (const secret of [bot, webhookSecret, gatewayToken, env.AUTH_SECRET, env.ENCRYPTION_KEY, env.ADMIN_TOKEN, user.token]) expect(text).not.toContain(secret);
    expect(text).not.toMatch(/start=/);
  });
});

describe("DELETE /api/me", () => {
  it("refuses without the exact email as confirmation, and changes nothing", async () => {
    const user = await flyUser();
    for (const body of [{}, { confirm: "someone-else@example.com" }, { confirm: 1 }]) {
      const refused = await apiJson("/api/me", jsonInit("DELETE", body, user.auth));
      expect(refused.status).toBe(400);
      expect(errorCode(refused.body)).toBe("confirmation_mismatch");
    }
    const me = await apiJson<{ tier: string }>("/api/me", { headers: user.auth });
    expect(me).toMatchObject({ status: 200, body: { tier: "paid" } });
  });

  it("deletes the Fly app, the bot claim, the images and every stored row; a new sign-in starts empty", async () => {
    const { user, bot, gatewayToken } = await populatedUser();
    const accepted = await apiJson("/api/me", jsonInit("DELETE", { confirm: `  ${user.email.toUpperCase()} ` }, user.auth));
    expect(accepted.status).toBe(202);
    const during = await apiJson("/api/me", { headers: user.auth });
    expect(during.status).toBe(409);
    expect(errorCode(during.body)).toBe("account_deleting");
    const again = await apiJson("/api/me", jsonInit("DELETE", { confirm: user.email }, user.auth));
    expect(again.status).toBe(202);

    // Run the object's alarm (the Fly saga, then the account job) until the job is gone.
    const until = Date.now() + 20_000;
    while (await runInDurableObject(user.stub, (actor: UserActor) => actor.jobs.get(ACCOUNT_DELETE_JOB) !== null)) {
      if (Date.now() > until) throw new Error("the account deletion did not finish");
      await withFly(user, () => undefined);
      await runDurableObjectAlarm(user.stub);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }

    expect(await inspectApp(user.app)).toBeNull();
    expect((await env.IMAGES.list({ prefix: `images/${user.userId}/` })).objects).toHaveLength(0);
    expect((await botState(bot)).webhook.url).toBe("");
    const leftovers = await runInDurableObject(user.stub, async (actor: UserActor, state) => {
      const tables = actor.sql.all<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' AND name != 'schema_meta'");
      const rows: Record<string, number> = {};
      for (const { name } of tables) {
        const n = actor.sql.one<{ n: number }>(`SELECT COUNT(*) AS n FROM "${name}"`)!.n;
        if (n > 0) rows[name] = n;
      }
      return { rows, alarm: await state.storage.getAlarm() };
    });
    expect(leftovers).toEqual({ rows: {}, alarm: null });
    const oldContainer = await api("/api/container/workspace/NOTES.md", { method: "PUT", headers: { authorization: `Bearer ${gatewayToken}` }, body: "still here?" });
    expect(oldContainer.status).toBe(401);

    const fresh = await apiJson<{ tier: string; fly: { state: string }; telegram: { claimed: boolean }; usage: { inputTokens: number } }>("/api/me", { headers: user.auth });
    expect(fresh.status).toBe(200);
    expect(fresh.body).toMatchObject({ tier: "free", fly: { state: "none" }, telegram: { claimed: false }, usage: { inputTokens: 0 } });
    const files = await apiJson<{ files: { name: string; version: number }[] }>("/api/workspace", { headers: user.auth });
    expect(files.body.files.map((f) => f.name).sort()).toEqual(["IDENTITY.md", "MEMORY.md", "SOUL.md", "USER.md"]);
    const history = await apiJson<{ messages: unknown[] }>("/api/chat/history", { headers: user.auth });
    expect(history.body.messages).toEqual([]);
  });
});
