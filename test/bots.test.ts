/**
 * Issue 16, item 7: one holder per bot. Claiming a bot another user holds is 409 (the webhook stays
 * where it was), and an operator can remove a pool bot, which is released from its user first.
 */
import { describe, expect, it } from "vitest";
import { ADMIN, api, apiJson, errorCode, jsonInit, newUser } from "./helpers.ts";
import { botState, botToken, claim, release } from "./telegram-helpers.ts";

describe("claiming a bot another user holds", () => {
  it("is refused with 409 and leaves the holder's webhook alone; after a release it can be claimed", async () => {
    const [holder, other] = [await newUser(), await newUser()];
    const token = botToken();
    expect((await claim(holder, { botToken: token })).status).toBe(200);
    const webhook = (await botState(token)).webhook.url;
    expect(webhook).toContain(holder.userId);
    const refused = await claim(other, { botToken: token });
    expect(refused.status).toBe(409);
    expect(errorCode(refused.body)).toBe("bot_taken");
    expect((await botState(token)).webhook.url).toBe(webhook);
    expect((await apiJson<{ telegram: { claimed: boolean } }>("/api/me", { headers: other.auth })).body.telegram.claimed).toBe(false);
    // Claiming it again yourself is fine (a retried claim).
    expect((await claim(holder, { botToken: token })).status).toBe(200);
    expect((await release(holder)).status).toBe(204);
    expect((await claim(other, { botToken: token })).status).toBe(200);
    expect((await botState(token)).webhook.url).toContain(other.userId);
  });

  it("refuses a pool bot's token as someone's own bot", async () => {
    const token = botToken();
    const added = await apiJson("/api/admin/telegram/pool", jsonInit("POST", { botTokens: [token] }, ADMIN));
    expect(added.status).toBe(201);
    const user = await newUser();
    const refused = await claim(user, { botToken: token });
    expect(refused.status).toBe(409);
    expect(errorCode(refused.body)).toBe("bot_taken");
  });
});

describe("DELETE /api/admin/telegram/pool/:username", () => {
  it("releases the bot from its user (webhook deleted), then removes it from the pool", async () => {
    const token = botToken();
    const added = await apiJson<{ added: { username: string }[] }>("/api/admin/telegram/pool", jsonInit("POST", { botTokens: [token] }, ADMIN));
    const username = added.body.added[0]!.username;
    // New users take free pool bots in order until one holds ours (earlier tests' bots may be free too).
    let user = await newUser();
    let got = "";
    for (let i = 0; i < 5 && got !== username; i++) {
      user = await newUser();
      const res = await claim(user, {});
      if (res.status !== 200) break;
      got = res.body.botUsername;
    }
    expect(got).toBe(username);
    expect((await botState(token)).webhook.url).toContain(user.userId);

    expect((await api(`/api/admin/telegram/pool/${username}`, { method: "DELETE", headers: { authorization: "Bearer wrong" } })).status).toBe(401);
    const removed = await api(`/api/admin/telegram/pool/${username}`, { method: "DELETE", headers: ADMIN });
    expect(removed.status).toBe(204);
    expect((await botState(token)).webhook.url).toBe("");
    const me = await apiJson<{ telegram: { claimed: boolean } }>("/api/me", { headers: user.auth });
    expect(me.body.telegram.claimed).toBe(false);
    const pool = await apiJson<{ bots: { username: string }[] }>("/api/admin/telegram/pool", { headers: ADMIN });
    expect(pool.body.bots.map((b) => b.username)).not.toContain(username);
    const again = await apiJson(`/api/admin/telegram/pool/${username}`, { method: "DELETE", headers: ADMIN });
    expect(again.status).toBe(404);
    errorCode(again.body);
  });
});
