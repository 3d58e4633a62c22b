import { describe, expect, it } from "vitest";
import { runInDurableObject } from "cloudflare:test";
import type { UserActor } from "../src/actors/user-actor.ts";
import { ADMIN, apiJson, errorCode, jsonInit, newUser } from "./helpers.ts";
import { actorOf, botIdOf, botState, botToken, buildUpdate, calls, claim, post, release } from "./telegram-helpers.ts";

describe("claiming a bot", () => {
  it("checks the user's own token with getMe, sets a secret webhook and answers with a one-time link", async () => {
    const user = await newUser();
    const token = botToken();
    const { status, body } = await claim(user, { botToken: token });
    expect(status).toBe(200);
    expect(body.botUsername).toBe(`sp_test_${botIdOf(token)}_bot`);
    expect(body.linkUrl).toMatch(new RegExp(`^https://t\\.me/${body.botUsername}\\?start=[A-Za-z0-9_-]{16,64}$`));

    const [getMe] = await calls(token, "getMe");
    expect(getMe?.ok).toBe(true);
    const [setWebhook] = await calls(token, "setWebhook");
    expect(setWebhook?.params).toMatchObject({
      url: `https://soulprint.test/telegram/webhook/${user.userId}`,
      allowed_updates: ["message"],
      drop_pending_updates: true,
    });
    expect(String(setWebhook?.params.secret_token)).toMatch(/^[A-Za-z0-9_-]{32,256}$/);
    expect((await botState(token)).webhook.has_secret).toBe(true);

    // Stored sealed, never as the token itself.
    const stored = await runInDurableObject(actorOf(user), (actor: UserActor) => actor.sql.one<{ token_sealed: string }>("SELECT token_sealed FROM telegram_bot"));
    expect(stored?.token_sealed).toMatch(/^v1\./);
    expect(stored?.token_sealed).not.toContain(token.split(":")[1]);

    const described = await runInDurableObject(actorOf(user), (actor: UserActor) => actor.telegram.status());
    expect(described).toEqual({ claimed: true, botUsername: body.botUsername, linkUrl: body.linkUrl, ownerBound: false, fromPool: false });
  });

  it("answers 400 for a token Telegram rejects, or one that is not a token at all", async () => {
    const user = await newUser();
    const rejected = botToken({ bad: true });
    const response = await claim(user, { botToken: rejected });
    expect(response.status).toBe(400);
    expect(errorCode(response.body)).toBe("invalid_bot_token");
    expect(JSON.stringify(response.body)).not.toContain(rejected.split(":")[1]);
    expect(await calls(rejected, "setWebhook")).toHaveLength(0);

    const malformed = await claim(user, { botToken: "123/../../getMe" });
    expect(malformed.status).toBe(400);
    expect(errorCode(malformed.body)).toBe("invalid_bot_token");
    expect((await claim(user, { botToken: 42 })).status).toBe(400);
  });

  it("claims, releases and claims again: the webhook goes and comes back with a new secret", async () => {
    const user = await newUser();
    const token = botToken();
    expect((await claim(user, { botToken: token })).status).toBe(200);
    const firstSecret = (await calls(token, "setWebhook"))[0]!.params.secret_token;
    const firstDelivery = await buildUpdate(token, { text: "hi" });

    const released = await release(user);
    expect(released.status).toBe(204);
    expect((await calls(token, "deleteWebhook")).filter((c) => c.ok)).toHaveLength(1);
    expect((await botState(token)).webhook.url).toBe("");
    // The old secret opens nothing any more.
    expect((await post(firstDelivery)).status).toBe(401);
    // Releasing twice is fine.
    expect((await release(user)).status).toBe(204);

    const again = await claim(user, { botToken: token });
    expect(again.status).toBe(200);
    const setWebhooks = await calls(token, "setWebhook");
    expect(setWebhooks).toHaveLength(2);
    expect(setWebhooks[1]!.params.secret_token).not.toBe(firstSecret);
    expect((await post(await buildUpdate(token, { text: "hi again" }))).status).toBe(200);
  });

  it("replaces the old bot cleanly when claiming another one", async () => {
    const user = await newUser();
    const [first, second] = [botToken(), botToken()];
    expect((await claim(user, { botToken: first })).status).toBe(200);
    const oldDelivery = await buildUpdate(first, { text: "hi" });
    const switched = await claim(user, { botToken: second });
    expect(switched.status).toBe(200);
    expect(switched.body.botUsername).toBe(`sp_test_${botIdOf(second)}_bot`);
    expect((await botState(first)).webhook.url).toBe("");
    expect((await botState(second)).webhook.url).toBe(`https://soulprint.test/telegram/webhook/${user.userId}`);
    expect((await post(oldDelivery)).status).toBe(401);
  });
});

describe("the operator's bot pool", () => {
  const pool = () => apiJson<{ bots: { botId: number; username: string; claimed: boolean }[]; free: number; claimed: number }>("/api/admin/telegram/pool", { headers: ADMIN });

  it("is for the operator only and lists bots without their tokens", async () => {
    const user = await newUser();
    expect((await apiJson("/api/admin/telegram/pool", { headers: user.auth })).status).toBe(401);
    const token = botToken();
    const added = await apiJson("/api/admin/telegram/pool", jsonInit("POST", { botTokens: [token] }, ADMIN));
    expect(added.status).toBe(201);
    const listed = await pool();
    expect(listed.body.bots.map((b) => b.username)).toContain(`sp_test_${botIdOf(token)}_bot`);
    expect(JSON.stringify(listed.body)).not.toContain(token.split(":")[1]);
    expect(JSON.stringify(added.body)).not.toContain(token.split(":")[1]);

    // One token Telegram rejects: nothing is added.
    const good = botToken();
    const mixed = await apiJson("/api/admin/telegram/pool", jsonInit("POST", { botTokens: [good, botToken({ bad: true })] }, ADMIN));
    expect(mixed.status).toBe(400);
    expect(errorCode(mixed.body)).toBe("invalid_bot_token");
    expect((await pool()).body.bots.map((b) => b.username)).not.toContain(`sp_test_${botIdOf(good)}_bot`);
  });

  it("hands each free bot to exactly one of many concurrent claimers, then answers 409", async () => {
    const before = (await pool()).body.free;
    const tokens = [botToken(), botToken()];
    expect((await apiJson("/api/admin/telegram/pool", jsonInit("POST", { botTokens: tokens }, ADMIN))).status).toBe(201);
    const users = await Promise.all(Array.from({ length: before + 3 }, () => newUser("pool")));
    const results = await Promise.all(users.map((u) => claim(u)));
    const won = results.filter((r) => r.status === 200);
    const lost = results.filter((r) => r.status !== 200);
    expect(won).toHaveLength(before + 2);
    expect(new Set(won.map((r) => r.body.botUsername)).size).toBe(won.length);
    expect(lost).toHaveLength(1);
    expect(lost[0]!.status).toBe(409);
    expect(errorCode(lost[0]!.body)).toBe("pool_empty");
    expect((await pool()).body.free).toBe(0);

    // A holder claiming again keeps its bot (no second bot taken).
    const holder = users[results.findIndex((r) => r.status === 200)]!;
    const held = results.find((r) => r.status === 200)!.body.botUsername;
    const again = await claim(holder);
    expect(again.status).toBe(200);
    expect(again.body.botUsername).toBe(held);

    // Releasing returns the bot: the user who got 409 can have it now.
    expect((await release(holder)).status).toBe(204);
    const listed = await pool();
    expect(listed.body.bots.find((b) => b.username === held)?.claimed).toBe(false);
    const loser = users[results.findIndex((r) => r.status === 409)]!;
    const second = await claim(loser);
    expect(second.status).toBe(200);
    expect(second.body.botUsername).toBe(held);
    expect((await pool()).body.free).toBe(0);
  });
});

describe("the webhook", () => {
  it("refuses a wrong or missing secret with 401 and stores nothing", async () => {
    const user = await newUser();
    const token = botToken();
    await claim(user, { botToken: token });
    const delivery = await buildUpdate(token, { text: "let me in" });
    for (const secret of ["wrong-secret", "", null] as const) {
      const response = await post(delivery, { secret });
      expect(response.status).toBe(401);
      expect(errorCode(await response.json())).toBe("unauthorized");
    }
    const stored = await runInDurableObject(actorOf(user), (actor: UserActor) => actor.sql.all("SELECT update_id FROM telegram_inbox"));
    expect(stored).toHaveLength(0);

    // Another user's id with this bot's secret, and a path that is no user id: 401 as well.
    const other = await newUser();
    expect((await post({ ...delivery, url: delivery.url.replace(user.userId, other.userId) })).status).toBe(401);
    expect((await post({ ...delivery, url: delivery.url.replace(user.userId, "not-a-user") })).status).toBe(401);
  });

  it("stores a new update once: a redelivered update_id is dropped", async () => {
    const user = await newUser();
    const token = botToken();
    await claim(user, { botToken: token });
    const delivery = await buildUpdate(token, { text: "/help" });
    expect((await post(delivery)).status).toBe(200);
    expect((await post(delivery)).status).toBe(200);
    const rows = await runInDurableObject(actorOf(user), (actor: UserActor) => actor.sql.all<{ update_id: number }>("SELECT update_id FROM telegram_inbox"));
    expect(rows.map((r) => r.update_id)).toEqual([delivery.updateId]);
  });
});
