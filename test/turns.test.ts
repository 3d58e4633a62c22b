/**
 * Conversation integrity (issue 12): one turn at a time per user, and no failed, cancelled,
 * interrupted or queued reply ever makes a later message fail. Every request below is judged by the
 * Bedrock stand-in, which refuses what Bedrock refuses (dev/converse-rules.ts).
 */
import { describe, expect, it } from "vitest";
import { env } from "cloudflare:workers";
import { abortAllDurableObjects, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import type { UserActor } from "../src/actors/user-actor.ts";
import { MAX_QUEUED } from "../src/lib/chat/chat-engine.ts";
import { loadConfig } from "../src/lib/config.ts";
import { api, apiJson, errorCode, jsonInit, newUser, type TestUser } from "./helpers.ts";
import { clearScript, requests, scenario, script } from "./bedrock-control.ts";
import { connect, type Frame } from "./ws-client.ts";
import { botToken, connect as connectBot, runJobs, say, sentTexts, waitForTexts } from "./telegram-helpers.ts";
import { RATE_LIMITED } from "../src/lib/telegram/messages.ts";

const config = loadConfig(env);
const MAIN = config.bedrockModelId;
const FALLBACK = config.bedrockFallbackModelId;

interface Reply {
  id: string;
  messageId: string;
  text: string;
  status: string;
  via: string;
}

interface HistoryMessage {
  id: string;
  role: string;
  text: string;
  status?: string;
  replyTo?: string;
}

const chat = (user: TestUser, body: Record<string, unknown>) =>
  apiJson<Reply>("/api/chat", jsonInit("POST", body, { ...user.auth, accept: "application/json" }));

const actorOf = (user: TestUser) => env.USER_ACTOR.get(env.USER_ACTOR.idFromName(user.userId));

async function history(user: TestUser): Promise<HistoryMessage[]> {
  return (await apiJson<{ messages: HistoryMessage[] }>("/api/chat/history?limit=200", { headers: user.auth })).body.messages;
}

/** The text blocks of the last user message Bedrock was sent, in order. */
function lastUserTexts(body: { messages?: { role: string; content: Record<string, unknown>[] }[] }): string[] {
  const last = body.messages!.at(-1)!;
  expect(last.role).toBe("user");
  return last.content.filter((b) => typeof b.text === "string").map((b) => b.text as string);
}

/**
 * The rate limiter counts in fixed windows aligned to the clock's minutes (miniflare, like the
 * platform): a test that must see the limit within one window starts early in one.
 */
async function earlyInRateWindow(): Promise<void> {
  const into = Date.now() % 60_000;
  if (into > 30_000) await new Promise((resolve) => setTimeout(resolve, 60_000 - into + 200));
}

const isEnd = (id: string) => (f: Frame) => (f.type === "done" || f.type === "error") && f.id === id;

describe("a failed reply never breaks the conversation", () => {
  const failures: [string, unknown[], string][] = [
    ["a model error", [{ error: "validation" }], "error"],
    ["throttling past the retries and the fallback model", [
      ...Array.from({ length: 3 }, () => ({ throttle: "http", model: MAIN })),
      ...Array.from({ length: 3 }, () => ({ throttle: "http", model: FALLBACK })),
    ], "error"],
    ["an exception in the middle of the stream", [{ streamError: "modelStreamErrorException", afterPieces: 2, text: "alpha beta gamma delta", pieces: 4 }], "interrupted"],
    ["an exception before the first piece", [{ streamError: "internalServerException", afterPieces: 0, text: "x" }, { error: "internal" }, { error: "internal" }, { error: "internal" }, { error: "internal" }, { error: "internal" }], "error"],
  ];

  it.each(failures)("after %s, the next two messages are answered", async (_label, replies, expectedStatus) => {
    const user = await newUser();
    const { key, tag } = scenario();
    await script(key, replies);
    const failed = await chat(user, { id: "m1", text: `first ${tag}` });
    expect(failed.status).toBe(200);
    expect(failed.body.status).toBe(expectedStatus);
    // Whatever the scripted failure left in the queue is not for the next messages.
    await clearScript(key);

    const second = await chat(user, { id: "m2", text: `second ${tag}` });
    const third = await chat(user, { id: "m3", text: `third ${tag}` });
    expect([second.body.status, third.body.status]).toEqual(["done", "done"]);
    expect(second.body.text).toContain("second");
    expect(third.body.text).toContain("third");

    const sent = await requests(key);
    // The stand-in refused nothing but the scripted model error: every prompt was valid Converse.
    const scriptedRefusals = (replies as { error?: string }[]).filter((r) => r.error === "validation").length;
    expect(sent.filter((r) => r.status === 400)).toHaveLength(scriptedRefusals);
    const [forSecond, forThird] = sent.slice(-2);
    expect([forSecond!.status, forThird!.status]).toEqual([200, 200]);
    // A failed turn with nothing shown is merged into the next user message; one with text keeps it.
    if (expectedStatus === "error") expect(lastUserTexts(forSecond!.body)).toEqual([`first ${tag}`, `second ${tag}`]);
    else expect(lastUserTexts(forSecond!.body)).toEqual([`second ${tag}`]);
    expect(forThird!.body.messages!.map((m) => m.role)).toEqual(expectedStatus === "error" ? ["user", "assistant", "user"] : ["user", "assistant", "user", "assistant", "user"]);
    // The failed message stays in history, with its failed reply.
    const stored = await history(user);
    expect(stored.find((m) => m.id === "m1")?.role).toBe("user");
    expect(stored.find((m) => m.replyTo === "m1")?.status).toBe(expectedStatus);
  });

  it("after a cancelled reply (with and without text), the next two messages are answered; a withdrawn message stays out of the prompt", async () => {
    const user = await newUser();
    const { socket } = await connect(user);
    const { key, tag } = scenario();
    await script(key, [{ text: "a b c d e f g h i j k l", pieces: 12, delayMs: 150 }, { hang: true }]);
    socket!.send({ type: "chat", id: "c1", text: `long ${tag}` });
    await socket!.next((f) => f.type === "delta" && f.id === "c1");
    socket!.send({ type: "cancel", id: "c1" });
    await socket!.next(isEnd("c1"));
    socket!.send({ type: "chat", id: "c2", text: `hang ${tag}` });
    await socket!.next((f) => f.type === "status" && f.id === "c2" && f.status === "thinking");
    socket!.send({ type: "cancel", id: "c2" });
    expect(await socket!.next(isEnd("c2"))).toMatchObject({ type: "done", status: "cancelled" });
    for (const id of ["c3", "c4"]) {
      socket!.send({ type: "chat", id, text: `${id} ${tag}` });
      expect(await socket!.next(isEnd(id))).toMatchObject({ type: "done", via: "bedrock" });
    }
    const sent = await requests(key);
    expect(sent.filter((r) => r.status === 400)).toEqual([]);
    // c1's partial text stays as the assistant's turn; c2, cancelled before any text, was withdrawn.
    const forC3 = sent.at(-2)!.body.messages!;
    expect(forC3.map((m) => m.role)).toEqual(["user", "assistant", "user"]);
    expect(lastUserTexts(sent.at(-2)!.body)).toEqual([`c3 ${tag}`]);
    socket!.close();
  });
});

describe("one turn at a time", () => {
  it("queues a second message sent on the same socket while the first streams, and answers both in order", async () => {
    const user = await newUser();
    const { socket } = await connect(user);
    const { key, tag } = scenario();
    await script(key, [{ text: "first answer in pieces", pieces: 6, delayMs: 80 }, { text: "second answer" }]);
    socket!.send({ type: "chat", id: "q1", text: `one ${tag}` });
    socket!.send({ type: "chat", id: "q2", text: `two ${tag}` });
    expect(await socket!.next((f) => f.type === "status" && f.id === "q2")).toMatchObject({ status: "queued" });
    const first = await socket!.next(isEnd("q1"));
    const second = await socket!.next(isEnd("q2"));
    expect([first.type, second.type]).toEqual(["done", "done"]);
    // q2 started only after q1 ended: its first frame after "queued" comes after q1's done.
    const order = socket!.frames.map((f) => `${f.type}:${String(f.id)}`);
    expect(order.indexOf("done:q1")).toBeLessThan(order.indexOf("delta:q2"));
    const [r1, r2] = await requests(key);
    expect(r2!.body.messages!.map((m) => m.role)).toEqual(["user", "assistant", "user"]);
    expect(r2!.body.messages![1]!.content[0]!.text).toBe("first answer in pieces");
    expect(r1!.status).toBe(200);
    socket!.close();
  });

  it("answers three parallel HTTP messages, one at a time, in arrival order", async () => {
    const user = await newUser();
    await api("/api/me", { headers: user.auth });
    const { key, tag } = scenario();
    await script(key, [{ text: "A", delayMs: 60 }, { text: "B", delayMs: 60 }, { text: "C", delayMs: 60 }]);
    const results = await Promise.all(["p1", "p2", "p3"].map((id) => chat(user, { id, text: `${id} ${tag}` })));
    expect(results.map((r) => [r.status, r.body.status])).toEqual([[200, "done"], [200, "done"], [200, "done"]]);
    const sent = await requests(key);
    expect(sent.map((r) => r.status)).toEqual([200, 200, 200]);
    // Each request holds every exchange before it: the turns did not overlap.
    expect(sent.map((r) => r.body.messages!.length)).toEqual([1, 3, 5]);
    const stored = await history(user);
    expect(stored.map((m) => m.role)).toEqual(["user", "assistant", "user", "assistant", "user", "assistant"]);
    expect(stored.filter((m) => m.role === "assistant").map((m) => m.status)).toEqual(["done", "done", "done"]);
  });

  it("drops a queued message when it is cancelled, and refuses more than the queue holds", async () => {
    const user = await newUser();
    const { socket } = await connect(user);
    const { key, tag } = scenario();
    await script(key, [{ text: "slow slow slow slow", pieces: 4, delayMs: 500 }]);
    socket!.send({ type: "chat", id: "run", text: `run ${tag}` });
    for (let i = 0; i < MAX_QUEUED; i++) socket!.send({ type: "chat", id: `w${i}`, text: `wait ${i} ${tag}` });
    socket!.send({ type: "chat", id: "over", text: `over ${tag}` });
    const refused = await socket!.next((f) => f.type === "error" && f.id === "over");
    expect(refused.code).toBe("too_many_pending");
    socket!.send({ type: "cancel", id: "w0" });
    expect(await socket!.next(isEnd("w0"))).toMatchObject({ type: "done", status: "cancelled" });
    await socket!.next(isEnd(`w${MAX_QUEUED - 1}`), 20_000);
    const sent = await requests(key);
    // w0 never reached the model, not even merged into a later prompt; the refused message was never stored.
    expect(sent.some((r) => JSON.stringify(r.body.messages).includes(`wait 0 ${tag}`))).toBe(false);
    expect(sent).toHaveLength(MAX_QUEUED);
    expect(sent.every((r) => r.status === 200)).toBe(true);
    const stored = await history(user);
    expect(stored.some((m) => m.id === "over")).toBe(false);
    expect(stored.find((m) => m.replyTo === "w0")?.status).toBe("cancelled");
    socket!.close();
  }, 40_000);

  it("takes up a queue left behind by an evicted object from the alarm", async () => {
    const user = await newUser();
    const { key, tag } = scenario();
    await script(key, [{ hang: true, afterPieces: 1, text: "never finishes" }]);
    const { socket } = await connect(user);
    socket!.send({ type: "chat", id: "e1", text: `first ${tag}` });
    await socket!.next((f) => f.type === "delta" && f.id === "e1");
    socket!.send({ type: "chat", id: "e2", text: `second ${tag}` });
    socket!.send({ type: "chat", id: "e3", text: `third ${tag}` });
    await socket!.next((f) => f.type === "status" && f.id === "e3" && f.status === "queued");
    socket!.close();
    // The instance goes with its work in memory (evictDurableObject would wait for the hung reply).
    await abortAllDurableObjects();
    // The new instance marks the cut-off reply interrupted and answers the queue from its alarm.
    await runDurableObjectAlarm(actorOf(user));
    const stored = await history(user);
    const reply = (id: string) => stored.find((m) => m.replyTo === id);
    expect(reply("e1")?.status).toBe("interrupted");
    expect([reply("e2")?.status, reply("e3")?.status]).toEqual(["done", "done"]);
    expect(reply("e2")!.text).toContain("second");
    const sent = (await requests(key)).filter((r) => r.status === 200);
    expect(lastUserTexts(sent.at(-1)!.body)).toEqual([`third ${tag}`]);
    await runInDurableObject(actorOf(user), (actor: UserActor) => {
      expect(actor.chat.pending()).toEqual([]);
    });
  });
});

describe("budgets that hold", () => {
  it("answers or refuses with 429 budget_exceeded every message of a burst, and overspends by at most one turn", async () => {
    const user = await newUser();
    await api("/api/me", { headers: user.auth });
    const budget = config.freeDailyTokens;
    // Spend all but a little of today's budget, so the burst crosses it.
    await runInDurableObject(actorOf(user), (actor: UserActor) => {
      actor.sql.run("INSERT INTO usage_daily (day, input_tokens) VALUES (?, ?)", new Date().toISOString().slice(0, 10), budget - 1_500);
    });
    const { tag } = scenario();
    const outcomes: { status: number; code?: string; reply?: string }[] = [];
    // 30 messages, six in flight at a time (under the queue limit: this is about the budget).
    const ids = Array.from({ length: 30 }, (_, i) => `b${i}`);
    await Promise.all(Array.from({ length: 6 }, async () => {
      for (let id = ids.shift(); id; id = ids.shift()) {
        const { status, body } = await chat(user, { id, text: `burst ${id} ${tag} ${"x".repeat(2_000)}` });
        outcomes.push(status === 200 ? { status, reply: (body as Reply).status } : { status, code: errorCode(body) });
      }
    }));
    expect(outcomes).toHaveLength(30);
    for (const outcome of outcomes) {
      if (outcome.status === 200) expect(outcome.reply).toBe("done");
      else expect(outcome).toMatchObject({ status: 429, code: "budget_exceeded" });
    }
    const answered = outcomes.filter((o) => o.status === 200).length;
    expect(answered).toBeGreaterThanOrEqual(1);
    expect(answered).toBeLessThan(30);
    const usage = await apiJson<{ days: { inputTokens: number; outputTokens: number; cacheWriteTokens: number }[] }>("/api/usage?days=1", { headers: user.auth });
    const today = usage.body.days[0]!;
    const spent = today.inputTokens + today.outputTokens + today.cacheWriteTokens;
    // One turn here costs ~1,500 tokens (the system prompt and the 2,000-character message).
    expect(spent - budget).toBeLessThan(3_000);
  }, 60_000);
});

describe("one rate limit for every channel", () => {
  it("answers a WebSocket chat frame over the per-user limit with an error frame rate_limited", async () => {
    const user = await newUser();
    await earlyInRateWindow();
    // Four tabs, so each socket's own frame bucket (20 at once) stays out of the way.
    const sockets = await Promise.all(Array.from({ length: 4 }, async () => (await connect(user)).socket!));
    const { key, tag } = scenario();
    await script(key, [{ text: "once" }]);
    // The same id again and again: one reply, but every frame counts against the limit (60 a minute).
    for (const socket of sockets) for (let i = 0; i < 17; i++) socket.send({ type: "chat", id: "same", text: `again ${tag}` });
    const limited = await Promise.any(sockets.map((socket) => socket.next((f) => f.type === "error" && f.id === "same")));
    expect(limited.code).toBe("rate_limited");
    expect(String(limited.message)).toMatch(/wait/i);
    expect(await requests(key)).toHaveLength(1);
    // The same limit covers HTTP chat for this user now.
    const http = await chat(user, { text: `http ${tag}` });
    expect(http.status).toBe(429);
    expect(errorCode(http.body)).toBe("rate_limited");
    // The one reply ends before the test does: work (and its log line) must not outlive the file.
    await sockets[0]!.next((f) => f.type === "done" && f.id === "same", 20_000);
    for (const socket of sockets) socket.close();
  }, 75_000);
});

describe("Telegram, one turn at a time", () => {
  it("answers three messages delivered within 100 ms with three replies, in order", async () => {
    const user = await newUser();
    const token = botToken();
    const chatId = 51_000 + Math.floor(Math.random() * 1_000);
    await connectBot(user, token, chatId);
    const { tag } = scenario();
    // Back to back, in order, as Telegram delivers a chat's updates (the webhook answers at once, so
    // all three are in before the first reply is written); racing the posts would test the network.
    for (const word of ["one", "two", "three"]) await say(token, { text: `${word} ${tag}`, chatId });
    const texts = await waitForTexts(user, token, chatId, 4, 20_000);
    expect(texts.slice(1)).toHaveLength(3);
    expect(texts[1]).toContain("You said: one");
    expect(texts[2]).toContain("You said: two");
    expect(texts[3]).toContain("You said: three");
    const stored = await history(user);
    expect(stored.filter((m) => m.role === "assistant").map((m) => m.status)).toEqual(["done", "done", "done"]);
  });

  it("tells a chat over the message limit once a minute, not once a message", async () => {
    const user = await newUser();
    const token = botToken();
    const chatId = 52_000 + Math.floor(Math.random() * 1_000);
    await connectBot(user, token, chatId);
    await earlyInRateWindow();
    // Spend the user's minute on the web (one reply, many counted frames), then write on Telegram.
    const sockets = await Promise.all(Array.from({ length: 4 }, async () => (await connect(user)).socket!));
    for (const socket of sockets) for (let i = 0; i < 17; i++) socket.send({ type: "chat", id: "fill", text: "fill the minute" });
    await Promise.any(sockets.map((socket) => socket.next((f) => f.type === "error" && f.code === "rate_limited")));
    for (const word of ["a", "b", "c"]) await say(token, { text: `too fast ${word}`, chatId });
    const texts = await waitForTexts(user, token, chatId, 2, 15_000);
    await runJobs(user);
    const after = await sentTexts(token, chatId);
    expect(after.slice(1)).toEqual([RATE_LIMITED]);
    expect(texts[1]).toBe(RATE_LIMITED);
    // The web reply that filled the minute ends before the test does (no work outlives the file).
    await sockets[0]!.next((f) => f.type === "done" && f.id === "fill", 20_000);
    for (const socket of sockets) socket.close();
  }, 75_000);
});
