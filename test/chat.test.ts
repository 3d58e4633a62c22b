import { describe, expect, it } from "vitest";
import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import type { UserActor } from "../src/actors/user-actor.ts";
import { costUsd, recordUsage, ZERO_USAGE } from "../src/lib/usage.ts";
import { loadConfig } from "../src/lib/config.ts";
import { api, apiJson, errorCode, jsonInit, newUser, type TestUser } from "./helpers.ts";
import { requests, scenario, script } from "./bedrock-control.ts";
import { readSse } from "./sse.ts";

const config = loadConfig(env);
const JSON_ACCEPT = { accept: "application/json" };

interface Reply {
  id: string;
  messageId: string;
  text: string;
  via: string;
  status: string;
  usage: { inputTokens: number; outputTokens: number; cacheReadTokens: number; cacheWriteTokens: number; costUsd: number };
  images: { url: string; alt: string }[];
}

function chat(user: TestUser, body: Record<string, unknown>) {
  return apiJson<Reply>("/api/chat", jsonInit("POST", body, { ...user.auth, ...JSON_ACCEPT }));
}

function actorOf(user: TestUser) {
  return env.USER_ACTOR.get(env.USER_ACTOR.idFromName(user.userId));
}

describe("HTTP chat with Claude on Bedrock", () => {
  it("streams pieces as SSE, in order, before the reply ends", async () => {
    const user = await newUser();
    const { key, tag } = scenario();
    await script(key, [{ text: "one two three four five six", pieces: 6, delayMs: 80 }]);
    const response = await api("/api/chat", jsonInit("POST", { id: "sse-1", text: `hello ${tag}` }, user.auth));
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    const events = await readSse(response);
    const deltas = events.filter((e) => e.event === "delta");
    expect(deltas.map((e) => e.data.text).join("")).toBe("one two three four five six");
    expect(deltas.length).toBeGreaterThanOrEqual(5);
    const done = events.find((e) => e.event === "done")!;
    expect(done.data).toMatchObject({ id: "sse-1", via: "bedrock" });
    // The first piece arrived well before the last: it was streamed, not buffered.
    expect(done.at - deltas[0]!.at).toBeGreaterThan(200);
    expect(events[0]!.event).toBe("user");
  });

  it("answers with the finished reply as JSON and keeps both messages in history", async () => {
    const user = await newUser();
    const { key, tag } = scenario();
    await script(key, [{ text: "Hello from the stand-in" }]);
    const { status, body } = await chat(user, { id: "json-1", text: `hi ${tag}` });
    expect(status).toBe(200);
    expect(body).toMatchObject({ id: "json-1", text: "Hello from the stand-in", via: "bedrock", status: "done" });
    const history = await apiJson<{ messages: { id: string; role: string; text: string; replyTo?: string }[]; hasMore: boolean }>("/api/chat/history?limit=10", { headers: user.auth });
    expect(history.body.messages.map((m) => [m.role, m.id])).toEqual([["user", "json-1"], ["assistant", body.messageId]]);
    expect(history.body.messages[1]!.replyTo).toBe("json-1");
    expect(history.body.hasMore).toBe(false);
  });

  it("answers a repeated message id with the stored reply, without a second model call", async () => {
    const user = await newUser();
    const { key, tag } = scenario();
    await script(key, [{ text: "only once" }, { text: "SECOND CALL" }]);
    const first = await chat(user, { id: "dup-1", text: `once ${tag}` });
    const second = await chat(user, { id: "dup-1", text: `once ${tag}` });
    expect(second.body.messageId).toBe(first.body.messageId);
    expect(second.body.text).toBe("only once");
    expect(await requests(key)).toHaveLength(1);
  });

  it("runs the tool loop: remember writes MEMORY.md as a normal change", async () => {
    const user = await newUser();
    const { key, tag } = scenario();
    await script(key, [{ toolUse: { name: "remember", input: { fact: "Loves green tea 🍵" } }, text: "Let me note that." }, { text: "Noted!" }]);
    const { body } = await chat(user, { text: `I love green tea ${tag}` });
    expect(body.text).toBe("Let me note that.\n\nNoted!");
    const memory = await (await api("/api/workspace/MEMORY.md", { headers: user.auth })).text();
    expect(memory).toContain("- Loves green tea 🍵");
    const recorded = await requests(key);
    expect(recorded).toHaveLength(2);
    const answer = recorded[1]!.body.messages!.at(-1)!;
    expect(answer.role).toBe("user");
    expect(JSON.stringify(answer.content)).toContain("toolResult");
    const versions = await apiJson<{ versions: { source: string }[] }>("/api/workspace/MEMORY.md/versions", { headers: user.auth });
    expect(versions.body.versions[0]!.source).toBe("tool");
  });

  it("falls back to the fallback model after the main one stays throttled", async () => {
    const user = await newUser();
    const { key, tag } = scenario();
    const main = config.bedrockModelId;
    await script(key, [
      { throttle: "http", model: main },
      { throttle: "stream", afterPieces: 0, model: main },
      { throttle: "http", model: main },
      { text: "fallback speaking", model: config.bedrockFallbackModelId },
    ]);
    const { body } = await chat(user, { text: `busy? ${tag}` });
    expect(body.text).toBe("fallback speaking");
    const models = (await requests(key)).map((r) => r.modelId);
    expect(models).toEqual([main, main, main, config.bedrockFallbackModelId]);
  });

  it("keeps the text of a stream interrupted mid-reply, marks it, and sends an error event", async () => {
    const user = await newUser();
    const { key, tag } = scenario();
    await script(key, [{ streamError: "modelStreamErrorException", afterPieces: 2, text: "alpha beta gamma delta epsilon", pieces: 5 }]);
    const response = await api("/api/chat", jsonInit("POST", { id: "cut-1", text: `go ${tag}` }, user.auth));
    const events = await readSse(response);
    const text = events.filter((e) => e.event === "delta").map((e) => e.data.text).join("");
    expect(text.length).toBeGreaterThan(0);
    expect(events.at(-1)).toMatchObject({ event: "error", data: { id: "cut-1", code: "interrupted" } });
    const history = await apiJson<{ messages: { role: string; text: string; status?: string }[] }>("/api/chat/history", { headers: user.auth });
    expect(history.body.messages.at(-1)).toMatchObject({ role: "assistant", text, status: "interrupted" });
    expect(await requests(key)).toHaveLength(1);
  });

  it("puts cache points after the tools, the system prompt and the last turn, and reads the prefix from cache on turn 2", async () => {
    const user = await newUser();
    const { key, tag } = scenario();
    await script(key, [{ text: "first answer" }, { text: "second answer" }, { text: "third answer" }]);
    const first = await chat(user, { text: `turn one ${tag}` });
    const second = await chat(user, { text: `turn two ${tag}` });
    const third = await chat(user, { text: `turn three ${tag}` });
    const [, request2] = await requests(key);
    const body = request2!.body;
    expect(body.system!.at(-1)).toHaveProperty("cachePoint");
    expect(body.toolConfig!.tools.at(-1)).toHaveProperty("cachePoint");
    const lastCompleted = body.messages!.at(-2)!;
    expect(lastCompleted.role).toBe("assistant");
    expect(lastCompleted.content.at(-1)).toHaveProperty("cachePoint");
    const points = JSON.stringify(body).match(/"cachePoint"/g)!.length;
    expect(points).toBeLessThanOrEqual(4);
    // Turn 1 caches (or, when another test already sent the same system prompt, reads) the system
    // prefix; turn 2 writes the prefix up to turn 1's answer; turn 3 reads that longer prefix.
    expect(first.body.usage.cacheWriteTokens + first.body.usage.cacheReadTokens).toBeGreaterThan(0);
    expect(second.body.usage.cacheWriteTokens).toBeGreaterThan(0);
    expect(third.body.usage.cacheReadTokens).toBeGreaterThan(second.body.usage.cacheReadTokens);
  });

  it("meters usage per message and per day, with its cost from the price table", async () => {
    const user = await newUser();
    const { key, tag } = scenario();
    await script(key, [{ text: "metered reply" }]);
    const { body } = await chat(user, { text: `count me ${tag}` });
    const expected = costUsd({ ...ZERO_USAGE, ...body.usage, images: 0 }, config.prices);
    expect(body.usage.costUsd).toBeCloseTo(expected, 6);
    const usage = await apiJson<{ days: { date: string; inputTokens: number; outputTokens: number; costUsd: number }[] }>("/api/usage?days=3", { headers: user.auth });
    expect(usage.body.days).toHaveLength(3);
    expect(usage.body.days[0]).toMatchObject({ inputTokens: body.usage.inputTokens, outputTokens: body.usage.outputTokens });
    expect(usage.body.days[0]!.costUsd).toBeCloseTo(expected, 6);
    expect((await apiJson("/api/usage?days=0", { headers: user.auth })).status).toBe(400);
  });

  it("prices tokens per 1M: $5 in, $6.25 cache write, $0.50 cache read, $25 out", () => {
    const cost = costUsd({ inputTokens: 1_000_000, cacheWriteTokens: 1_000_000, cacheReadTokens: 1_000_000, outputTokens: 1_000_000, images: 0 }, config.prices);
    expect(cost).toBeCloseTo(5 + 6.25 + 0.5 + 25, 6);
  });

  it("refuses with 429 budget_exceeded and the reset time once today's budget is spent", async () => {
    const user = await newUser();
    await api("/api/me", { headers: user.auth });
    await runInDurableObject(actorOf(user), async (actor: UserActor) => {
      recordUsage(actor.sql, { ...ZERO_USAGE, inputTokens: config.freeDailyTokens }, 1);
    });
    const response = await api("/api/chat", jsonInit("POST", { id: "over-1", text: "hello?" }, { ...user.auth, ...JSON_ACCEPT }));
    expect(response.status).toBe(429);
    expect(Number(response.headers.get("retry-after"))).toBeGreaterThan(0);
    const body = await response.json();
    expect(errorCode(body)).toBe("budget_exceeded");
    expect(JSON.stringify(body)).toMatch(/resets at \d{4}-\d\d-\d\dT00:00:00/);
    const history = await apiJson<{ messages: unknown[] }>("/api/chat/history", { headers: user.auth });
    expect(history.body.messages).toHaveLength(0);
  });

  it("generates an image into R2 and serves it to its owner only", async () => {
    const user = await newUser();
    const other = await newUser("other");
    const { key, tag } = scenario();
    await script(key, [{ toolUse: { name: "generate_image", input: { prompt: "a red fox", alt: "A red fox" } } }, { text: "Here it is." }]);
    const { body } = await chat(user, { text: `draw a fox ${tag}` });
    expect(body.images).toHaveLength(1);
    const url = body.images[0]!.url;
    expect(url).toMatch(/^\/api\/images\/img_/);
    const mine = await api(url, { headers: user.auth });
    expect(mine.status).toBe(200);
    expect(mine.headers.get("content-type")).toBe("image/png");
    const bytes = new Uint8Array(await mine.arrayBuffer());
    expect([...bytes.slice(1, 4)].map((b) => String.fromCharCode(b)).join("")).toBe("PNG");
    expect((await api(url, { headers: other.auth })).status).toBe(404);
    expect((await api(url)).status).toBe(401);
  });

  it("keeps a 3,000-turn history within the model's budget, alternating and starting with the user", async () => {
    const user = await newUser();
    await api("/api/me", { headers: user.auth });
    await runInDurableObject(actorOf(user), async (actor: UserActor) => {
      for (let i = 0; i < 3000; i++) {
        actor.history.insertUserMessage(`old-${i}`, `question ${i} ${"q".repeat(150)}`, "web", Date.now() - 1e7 + i);
        actor.history.insertReply(`a_old${i}`, `old-${i}`, "web", Date.now() - 1e7 + i, "streaming");
        actor.history.finishReply(`a_old${i}`, { text: `answer ${i} ${"a".repeat(150)}`, status: "done", via: "bedrock", images: [], usage: ZERO_USAGE, costUsd: 0 });
      }
    });
    const { key, tag } = scenario();
    await script(key, [{ text: "still here" }]);
    const { status, body } = await chat(user, { text: `and now? ${tag}` });
    expect(status).toBe(200);
    expect(body.text).toBe("still here");
    const [request] = await requests(key);
    const messages = request!.body.messages!;
    const chars = messages.reduce((sum, m) => sum + m.content.reduce((s, c) => s + (typeof c.text === "string" ? c.text.length : 0), 0), 0);
    expect(chars).toBeLessThanOrEqual(240_000 + 200);
    expect(messages.length).toBeLessThan(6001);
    expect(messages[0]!.role).toBe("user");
    expect(JSON.stringify(messages.at(-2))).toContain("answer 2999");
  });

  it("refuses bad chat input with clear 4xx JSON and stores nothing", async () => {
    const user = await newUser();
    for (const body of [{ text: "" }, { text: 42 }, { id: "", text: "x" }, { id: "x".repeat(65), text: "x" }, { id: "has space", text: "x" }]) {
      const { status, body: error } = await chat(user, body);
      expect(status, JSON.stringify(body)).toBe(400);
      errorCode(error);
    }
    const wrongType = await api("/api/chat", { method: "POST", headers: { ...user.auth, "content-type": "text/plain" }, body: "hi" });
    expect(wrongType.status).toBe(415);
    const history = await apiJson<{ messages: unknown[] }>("/api/chat/history", { headers: user.auth });
    expect(history.body.messages).toHaveLength(0);
  });
});
