/**
 * The model gateway (issue 13): the Anthropic Messages API in front of Bedrock for one user's
 * container, against the Bedrock stand-in's InvokeModel(WithResponseStream) for Claude, which
 * judges every body by the rules of Bedrock's Claude Messages API (dev/anthropic-rules.ts).
 */
import { describe, expect, it } from "vitest";
import { env } from "cloudflare:workers";
import { listDurableObjectIds, runInDurableObject } from "cloudflare:test";
import type { UserActor } from "../src/actors/user-actor.ts";
import { api, apiJson } from "./helpers.ts";
import { requests, scenario, script } from "./bedrock-control.ts";
import { driveUntil, flyUser, withFly, type FlyUser } from "./fly-helpers.ts";

const GATEWAY = "/api/container/model/v1/messages";

interface SseEvent {
  event: string;
  data: Record<string, unknown> & { type: string };
}

async function containerUser(): Promise<{ user: FlyUser; token: string }> {
  const user = await flyUser("paid");
  await withFly(user, (fly) => fly.provision());
  await driveUntil(user, (s) => s.state === "ready");
  const token = await runInDurableObject(user.stub, async (actor: UserActor) => (await actor.fly.gatewayToken())!);
  return { user, token };
}

function call(token: string, body: unknown, headers: Record<string, string> = {}) {
  return api(GATEWAY, { method: "POST", headers: { "x-api-key": token, "anthropic-version": "2023-06-01", "content-type": "application/json", ...headers }, body: typeof body === "string" ? body : JSON.stringify(body) });
}

async function events(response: Response): Promise<SseEvent[]> {
  const text = await response.text();
  return text.split("\n\n").filter((block) => block.trim()).map((block) => ({
    event: /^event: (.*)$/m.exec(block)![1]!,
    data: JSON.parse(/^data: (.*)$/m.exec(block)![1]!) as SseEvent["data"],
  }));
}

const messages = (text: string) => [{ role: "user", content: text }];

async function usageToday(user: FlyUser) {
  const { body } = await apiJson<{ days: { inputTokens: number; outputTokens: number; byVia: Record<string, { inputTokens: number; outputTokens: number; cacheReadTokens: number }> }[] }>("/api/usage?days=1", { headers: user.auth });
  return body.days[0]!;
}

describe("the model gateway", () => {
  it("streams Anthropic's events for a reply and records its usage as via container", async () => {
    const { user, token } = await containerUser();
    const { key, tag } = scenario();
    await script(key, [{ text: "Hoo, from Bedrock through the gateway.", pieces: 4 }]);
    const response = await call(token, { model: "claude-opus-4-6", max_tokens: 512, stream: true, system: `You are an owl. ${tag}`, messages: messages("hello") });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    const received = await events(response);
    expect(received[0]!.event).toBe("message_start");
    expect(received.at(-1)!.event).toBe("message_stop");
    expect(received.map((e) => e.event)).toContain("message_delta");
    for (const e of received) expect(e.event).toBe(e.data.type);
    const text = received.filter((e) => e.event === "content_block_delta").map((e) => (e.data.delta as { text?: string }).text ?? "").join("");
    expect(text).toBe("Hoo, from Bedrock through the gateway.");
    expect(JSON.stringify(received)).not.toContain("amazon-bedrock-invocationMetrics");
    // What Bedrock was sent: the Messages body with Bedrock's version, without `model` and `stream`.
    const [sent] = await requests(key);
    expect(sent!.operation).toBe("invoke-with-response-stream");
    const body = sent!.body as Record<string, unknown>;
    expect(body.anthropic_version).toBe("bedrock-2023-05-31");
    expect(body).not.toHaveProperty("model");
    expect(body).not.toHaveProperty("stream");
    const today = await usageToday(user);
    expect(today.byVia.container!.outputTokens).toBeGreaterThan(0);
    expect(today.outputTokens).toBe(today.byVia.container!.outputTokens);
  });

  it("answers a non-streaming call with the Anthropic message, tools and tool_use included", async () => {
    const { token } = await containerUser();
    const { key, tag } = scenario();
    await script(key, [{ toolUse: { name: "get_time", input: { zone: "UTC" }, toolUseId: "toolu_1" } }, { text: "It is noon." }]);
    const tools = [{ name: "get_time", description: "The time", input_schema: { type: "object", properties: { zone: { type: "string" } } } }];
    const first = await call(token, { max_tokens: 256, tools, system: tag, messages: messages("what time is it?") });
    expect(first.status).toBe(200);
    const message = (await first.json()) as { type: string; stop_reason: string; content: { type: string; id?: string; input?: unknown }[]; usage: Record<string, number> };
    expect(message).toMatchObject({ type: "message", stop_reason: "tool_use" });
    const use = message.content.find((b) => b.type === "tool_use")!;
    expect(use.input).toEqual({ zone: "UTC" });
    const second = await call(token, {
      max_tokens: 256, tools, system: tag,
      messages: [...messages("what time is it?"), { role: "assistant", content: message.content }, { role: "user", content: [{ type: "tool_result", tool_use_id: use.id, content: "12:00" }] }],
    });
    expect(second.status).toBe(200);
    expect(((await second.json()) as { content: { text?: string }[] }).content[0]!.text).toBe("It is noon.");
  });

  it("reads a repeated prefix from the cache on the second call", async () => {
    const { token } = await containerUser();
    const { tag } = scenario();
    const system = [{ type: "text", text: `A long and stable system prompt. ${tag} ${"x".repeat(2_000)}`, cache_control: { type: "ephemeral" } }];
    const body = { max_tokens: 64, system, messages: messages("hi") };
    const first = (await (await call(token, body)).json()) as { usage: Record<string, number> };
    const second = (await (await call(token, body)).json()) as { usage: Record<string, number> };
    expect(first.usage.cache_creation_input_tokens).toBeGreaterThan(0);
    expect(second.usage.cache_read_input_tokens).toBeGreaterThan(0);
  });

  it("passes fields it does not know through for Bedrock to judge, and the anthropic-beta header as anthropic_beta", async () => {
    const { token } = await containerUser();
    const { key, tag } = scenario();
    const response = await call(token, { max_tokens: 64, top_k: 5, stop_sequences: ["\n\nHuman:"], system: tag, messages: messages("hi") }, { "anthropic-beta": "context-1m-2025-08-07" });
    expect(response.status).toBe(200);
    const [sent] = await requests(key);
    expect(sent!.body).toMatchObject({ top_k: 5, stop_sequences: ["\n\nHuman:"], anthropic_beta: ["context-1m-2025-08-07"] });
    // A field Bedrock does not accept reaches it too, and its refusal comes back in Anthropic's shape.
    const refused = await call(token, { max_tokens: 64, not_a_field: true, system: tag, messages: messages("hi") });
    expect(refused.status).toBe(400);
    const body = (await refused.json()) as { type: string; error: { type: string; message: string } };
    expect(body).toMatchObject({ type: "error", error: { type: "invalid_request_error" } });
    expect(body.error.message).toContain("not_a_field");
  });

  it("answers malformed bodies with Anthropic's error shape", async () => {
    const { token } = await containerUser();
    const cases: [Response, number][] = [
      [await call(token, "{not json"), 400],
      [await call(token, [1, 2]), 400],
      [await call(token, { max_tokens: 10 }), 400],
      [await call(token, { messages: messages("hi") }), 400],
      [await call(token, { max_tokens: 10, messages: messages("hi"), stream: "yes" }), 400],
      [await api(GATEWAY, { method: "POST", headers: { "x-api-key": token, "content-type": "text/plain" }, body: "hi" }), 415],
    ];
    for (const [response, status] of cases) {
      expect(response.status).toBe(status);
      const body = (await response.json()) as { type: string; error: { type: string; message: string } };
      expect(body.type).toBe("error");
      expect(body.error.type).toBe(status === 415 ? "invalid_request_error" : "invalid_request_error");
      expect(body.error.message.length).toBeGreaterThan(0);
    }
  });

  it("joins consecutive turns of one role into one, as Anthropic's API does (Bedrock refuses them)", async () => {
    const { token } = await containerUser();
    const { key, tag } = scenario();
    const marked = { type: "text", text: "and the second part", cache_control: { type: "ephemeral" } };
    const response = await call(token, { max_tokens: 64, system: tag, messages: [{ role: "user", content: "first part" }, { role: "user", content: [marked] }] });
    expect(response.status).toBe(200);
    const [sent] = await requests(key);
    expect((sent!.body as { messages: unknown[] }).messages).toEqual([{ role: "user", content: [{ type: "text", text: "first part" }, marked] }]);
  });

  it("relays Bedrock's refusal of a body as invalid_request_error", async () => {
    const { token } = await containerUser();
    const response = await call(token, { max_tokens: 64, messages: [{ role: "assistant", content: "I start" }] });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { type: string } }).error.type).toBe("invalid_request_error");
  });

  it("ends a stream Bedrock cut with an error event, and records what was used", async () => {
    const { user, token } = await containerUser();
    const { key, tag } = scenario();
    await script(key, [{ streamError: "modelStreamErrorException", afterPieces: 2, text: "one two three four", pieces: 4 }]);
    const response = await call(token, { max_tokens: 64, stream: true, system: tag, messages: messages("go") });
    expect(response.status).toBe(200);
    const received = await events(response);
    expect(received.at(-1)).toMatchObject({ event: "error", data: { type: "error", error: { type: "overloaded_error" } } });
    expect(received.some((e) => e.event === "content_block_delta")).toBe(true);
    expect((await usageToday(user)).byVia.container!.inputTokens).toBeGreaterThan(0);
  });

  it("refuses a call over today's budget with 429 budget_exceeded and retry-after, before Bedrock", async () => {
    const { user, token } = await containerUser();
    const { key, tag } = scenario();
    await runInDurableObject(user.stub, (actor: UserActor) => {
      actor.sql.run("INSERT INTO usage_daily (day, input_tokens) VALUES (?, ?)", new Date().toISOString().slice(0, 10), 100_000_000);
    });
    const response = await call(token, { max_tokens: 64, system: tag, messages: messages("hi") });
    expect(response.status).toBe(429);
    expect(Number(response.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(await response.json()).toMatchObject({ type: "error", error: { type: "budget_exceeded" } });
    expect(await requests(key)).toHaveLength(0);
  });

  it("refuses a forged token in Anthropic's shape without creating an object", async () => {
    const victim = [...crypto.getRandomValues(new Uint8Array(10))].map((b) => b.toString(16).padStart(2, "0")).join("");
    const response = await call(`gw1.${victim}.1.${"A".repeat(43)}`, { max_tokens: 10, messages: messages("hi") });
    expect(response.status).toBe(401);
    expect(((await response.json()) as { error: { type: string } }).error.type).toBe("authentication_error");
    const wanted = env.USER_ACTOR.idFromName(victim);
    expect((await listDurableObjectIds(env.USER_ACTOR)).some((id) => id.equals(wanted))).toBe(false);
  });
});
