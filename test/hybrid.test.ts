import { describe, expect, it } from "vitest";
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { imageKey } from "../src/lib/chat/tools.ts";
import type { UserActor } from "../src/actors/user-actor.ts";
import { chooseRoute } from "../src/lib/container/route.ts";
import { api, apiJson, jsonInit, type TestUser } from "./helpers.ts";
import { requests, scenario, script } from "./bedrock-control.ts";
import { readSse } from "./sse.ts";
import { control, driveUntil, flyUser, inspectApp, withFly, type FlyUser } from "./fly-helpers.ts";
import { botToken, calls, connect as connectBot, say, sentTexts, waitFor, waitForTexts } from "./telegram-helpers.ts";

interface Reply {
  id: string;
  text: string;
  via: string;
  status: string;
  messageId: string;
}

async function readyUser(): Promise<FlyUser> {
  const user = await flyUser("paid");
  await withFly(user, (fly) => fly.provision());
  await driveUntil(user, (s) => s.state === "ready");
  return user;
}

function setBudget(user: FlyUser, wakeBudgetMs: number) {
  return runInDurableObject(user.stub, (actor: UserActor) => {
    Object.assign(actor.config.container, { wakeBudgetMs, retryBaseMs: 50 });
  });
}

async function stopMachines(user: FlyUser) {
  const app = await inspectApp(user.app);
  for (const machine of app!.machines) await control(`apps/${user.app}/machines/${machine.id}/stop`, {});
}

const chatJson = (user: TestUser, body: Record<string, unknown>) => apiJson<Reply>("/api/chat", jsonInit("POST", body, { ...user.auth, accept: "application/json" }));

describe("chooseRoute", () => {
  it("picks the container only for a paid, auto, ready user with a closed circuit", () => {
    const paid = { tier: "paid" as const, chatMode: "auto" as const };
    expect(chooseRoute(paid, "ready", false)).toBe("container");
    expect(chooseRoute({ ...paid, tier: "free" }, "ready", false)).toBe("direct");
    expect(chooseRoute({ ...paid, chatMode: "direct" }, "ready", false)).toBe("direct");
    expect(chooseRoute(paid, "provisioning", false)).toBe("direct");
    expect(chooseRoute(paid, "ready", true)).toBe("direct");
  });
});

describe("hybrid routing through the user's container", () => {
  it("sends a paid user's chat to their container, stored with via container, and reports the route", async () => {
    const user = await readyUser();
    const me = await apiJson<{ mode: string }>("/api/me", { headers: user.auth });
    expect(me.body.mode).toBe("container");
    const { body } = await chatJson(user, { id: "c1", text: "hello container" });
    expect(body.via).toBe("container");
    expect(body.text).toContain("Fly stand-in container");
    expect(body.text).toContain("You said: hello container");
    const app = await control<{ requests: { path: string; authorized: boolean; user?: string }[] }>(`apps/${user.app}/requests`);
    const chat = app.requests.find((r) => r.path === "/v1/chat/completions")!;
    expect(chat.authorized).toBe(true);
    expect(chat.user).toBe(`soulprint:${user.userId}`);
    const history = await apiJson<{ messages: { role: string; via?: string }[] }>("/api/chat/history", { headers: user.auth });
    expect(history.body.messages.at(-1)).toMatchObject({ role: "assistant", via: "container" });
  });

  it("goes direct when the paid user forces chatMode direct", async () => {
    const user = await readyUser();
    await api("/api/me", jsonInit("PATCH", { chatMode: "direct" }, user.auth));
    const { body } = await chatJson(user, { text: "direct please" });
    expect(body.via).toBe("bedrock");
  });

  it("shows waking_container while a stopped machine wakes, then answers from the container", async () => {
    const user = await readyUser();
    await setBudget(user, 10_000);
    await control(`apps/${user.app}/container`, { refuseWhileWaking: true, wakeDelayMs: 400 });
    await stopMachines(user);
    const response = await api("/api/chat", jsonInit("POST", { id: "wake1", text: "are you up?" }, user.auth));
    const events = await readSse(response);
    expect(events.some((e) => e.event === "status" && e.data.status === "waking_container")).toBe(true);
    expect(events.at(-1)).toMatchObject({ event: "done", data: { via: "container" } });
  });

  it("falls back to direct Bedrock when the wake takes longer than the budget, opens the circuit, and a health check closes it", async () => {
    const user = await readyUser();
    const { key, tag } = scenario();
    await script(key, [{ text: "Bedrock answering instead" }]);
    await setBudget(user, 600);
    await control(`apps/${user.app}/container`, { refuseWhileWaking: true, wakeDelayMs: 1_500 });
    await stopMachines(user);
    const { body } = await chatJson(user, { id: "slow1", text: `anyone? ${tag}` });
    expect(body).toMatchObject({ via: "bedrock", text: "Bedrock answering instead", status: "done" });
    const history = await apiJson<{ messages: { role: string }[] }>("/api/chat/history", { headers: user.auth });
    expect(history.body.messages.filter((m) => m.role === "assistant")).toHaveLength(1);
    expect((await apiJson<{ mode: string }>("/api/me", { headers: user.auth })).body.mode).toBe("direct");
    // The machine finishes waking; the health-check job then closes the circuit.
    await waitFor(async () => ((await inspectApp(user.app))!.machines.every((m) => m.state === "started") ? true : undefined), 10_000, "the machine to start");
    await runInDurableObject(user.stub, (actor: UserActor) => actor.sql.run("UPDATE jobs SET due_at = 0 WHERE kind = 'container_health'"));
    await runDurableObjectAlarm(user.stub);
    expect((await apiJson<{ mode: string }>("/api/me", { headers: user.auth })).body.mode).toBe("container");
  });

  it("keeps a reply the container cut off mid-stream, marks it interrupted, and never answers it twice", async () => {
    const user = await readyUser();
    const { key, tag } = scenario();
    await script(key, [{ text: "SHOULD NEVER BE ASKED" }]);
    await control(`apps/${user.app}/container`, { failAfterPieces: 2, pieceDelayMs: 20 });
    const response = await api("/api/chat", jsonInit("POST", { id: "die1", text: `go ${tag}` }, user.auth));
    const events = await readSse(response);
    const text = events.filter((e) => e.event === "delta").map((e) => e.data.text).join("");
    expect(text.length).toBeGreaterThan(0);
    expect(events.at(-1)).toMatchObject({ event: "error", data: { id: "die1", code: "interrupted" } });
    const again = await chatJson(user, { id: "die1", text: `go ${tag}` });
    expect(again.body).toMatchObject({ status: "interrupted", via: "container", text });
    expect(await requests(key)).toHaveLength(0);
  });

  it("lets a container reply stream for 30 s with a 2 s wake budget: it arrives whole and opens no circuit", async () => {
    const user = await readyUser();
    await setBudget(user, 2_000);
    const { key, tag } = scenario();
    await script(key, [{ text: "SHOULD NEVER BE ASKED" }]);
    // The stand-in's reply here is ~14 pieces: 2.2 s apiece is a 30 s reply, each gap well within the idle timeout.
    await control(`apps/${user.app}/container`, { pieceDelayMs: 2_200 });
    const started = Date.now();
    const { body } = await chatJson(user, { id: "long1", text: `tell me everything ${tag}` });
    const took = Date.now() - started;
    expect(body).toMatchObject({ status: "done", via: "container" });
    expect(body.text).toContain(`You said: tell me everything ${tag}`);
    expect(took).toBeGreaterThan(25_000);
    expect(await requests(key)).toHaveLength(0);
    expect((await apiJson<{ mode: string }>("/api/me", { headers: user.auth })).body.mode).toBe("container");
  }, 90_000);

  it("ends a container reply that goes silent for longer than the idle timeout, keeping what arrived", async () => {
    const user = await readyUser();
    await runInDurableObject(user.stub, (actor: UserActor) => {
      Object.assign(actor.config.container, { wakeBudgetMs: 2_000, idleTimeoutMs: 500, retryBaseMs: 50 });
    });
    await control(`apps/${user.app}/container`, { pieceDelayMs: 1_500 });
    const { body } = await chatJson(user, { id: "quiet1", text: "and then?" });
    expect(body).toMatchObject({ status: "interrupted", via: "container" });
    expect(body.text.length).toBeGreaterThan(0);
  });

  it("answers with Bedrock when the container refuses the gateway token (401)", async () => {
    const user = await readyUser();
    await runInDurableObject(user.stub, async (actor: UserActor) => {
      // New-format (so it is not replaced and re-sent on read) but not the container's token.
      const wrong = `gw1.${user.userId}.1.${"A".repeat(43)}`;
      actor.sql.run("UPDATE fly_app SET gateway_token = ?", await (await import("../src/lib/crypto.ts")).encryptSecret(actor["env"].ENCRYPTION_KEY, wrong));
    });
    const { body } = await chatJson(user, { text: "who am I?" });
    expect(body.via).toBe("bedrock");
    const app = await control<{ requests: { path: string; authorized: boolean }[] }>(`apps/${user.app}/requests`);
    expect(app.requests.filter((r) => r.path === "/v1/chat/completions").every((r) => !r.authorized)).toBe(true);
  });
});

/** A paid user whose app is ready and whose own bot is bound to `chatId`. */
async function readyUserWithBot(chatId: number) {
  const user = await flyUser("paid");
  const token = botToken();
  await connectBot(user, token, chatId);
  await withFly(user, (fly) => fly.provision());
  await driveUntil(user, (s) => s.state === "ready");
  return { user, token, chatId };
}

describe("Telegram through the container", () => {
  it("forwards a container-routed user's update to the container with the webhook secret; the object sends nothing itself", async () => {
    const { user, token, chatId } = await readyUserWithBot(4242);
    const sentBefore = (await sentTexts(token, chatId)).length;
    await say(token, { text: "hi from telegram", chatId });
    const forwarded = await waitFor(async () => {
      await runDurableObjectAlarm(user.stub);
      const app = await control<{ requests: { path: string; authorized: boolean; body?: { message?: { text?: string } } }[] }>(`apps/${user.app}/requests`);
      return app.requests.find((r) => r.path === "/telegram-webhook");
    }, 10_000, "the update to reach the container");
    expect(forwarded.authorized).toBe(true);
    expect(forwarded.body?.message?.text).toBe("hi from telegram");
    await runDurableObjectAlarm(user.stub);
    expect((await sentTexts(token, chatId)).length).toBe(sentBefore);
    expect((await calls(token, "sendMessage")).length).toBe(sentBefore);
  });

  it("keeps a photo sent to a container-routed user in R2 and shows it in history, and still forwards the update", async () => {
    const { user, token, chatId } = await readyUserWithBot(4244);
    // A 1×1 PNG, as the Telegram stand-in serves it for getFile and the download.
    const png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";
    const delivery = await say(token, { photo: png, caption: "my cat", chatId });
    const forwarded = await waitFor(async () => {
      await runDurableObjectAlarm(user.stub);
      const app = await control<{ requests: { path: string; body?: { message?: { caption?: string; photo?: unknown[] } } }[] }>(`apps/${user.app}/requests`);
      return app.requests.find((r) => r.path === "/telegram-webhook");
    }, 10_000, "the update to reach the container");
    // The container gets Telegram's update as it was (it fetches the photo itself, through the Worker).
    expect(forwarded.body?.message?.caption).toBe("my cat");
    expect(forwarded.body?.message?.photo?.length).toBeGreaterThan(0);
    const stored = await env.IMAGES.head(imageKey(user.userId, `img_tg_${delivery.updateId}`));
    expect(stored?.size).toBeGreaterThan(0);
    const { body } = await apiJson<{ messages: { id: string; role: string; text: string; images?: { url: string }[] }[] }>("/api/chat/history?limit=10", { headers: user.auth });
    expect(body.messages.find((m) => m.id === `tg-${delivery.updateId}`)).toMatchObject({ role: "user", text: "my cat", images: [{ url: `/api/images/img_tg_${delivery.updateId}` }] });
  });

  it("answers directly when the container cannot be reached within the wake budget", async () => {
    const { user, token, chatId } = await readyUserWithBot(4343);
    await setBudget(user, 400);
    await control(`apps/${user.app}/container`, { refuseWhileWaking: true, wakeDelayMs: 5_000 });
    await stopMachines(user);
    await say(token, { text: "still there?", chatId });
    const texts = await waitForTexts(user, token, chatId, 2, 15_000);
    expect(texts.at(-1)).toContain("local Bedrock stand-in");
  });
});
