/**
 * The Bedrock stand-in's Claude path as workerd sees it: the real SDK's
 * InvokeModelWithResponseStreamCommand and InvokeModelCommand (browser runtime, FetchHttpHandler)
 * decode what the stand-in sends, so the model gateway can be tested against it. Plus the
 * validator (dev/anthropic-rules.ts) on its own, as gateway tests will use it.
 */
import { BedrockRuntimeClient, InvokeModelCommand, InvokeModelWithResponseStreamCommand, type ResponseStream } from "@aws-sdk/client-bedrock-runtime";
import { describe, expect, inject, it } from "vitest";
import { validateAnthropic } from "../dev/anthropic-rules.ts";
import { claudeRequests, scenario, script } from "./bedrock-control.ts";

const OPUS = "global.anthropic.claude-opus-4-6-v1";
type Obj = Record<string, unknown>;

const client = () => new BedrockRuntimeClient({
  region: "us-east-1", endpoint: inject("bedrockUrl"), maxAttempts: 1,
  credentials: { accessKeyId: "AKIDTESTSTANDIN", secretAccessKey: "test-secret-access-key" },
});
const body = (extra: Obj) => JSON.stringify({ anthropic_version: "bedrock-2023-05-31", max_tokens: 512, ...extra });

async function stream(extra: Obj): Promise<{ events: Obj[]; error?: Error }> {
  const out = await client().send(new InvokeModelWithResponseStreamCommand({ modelId: OPUS, contentType: "application/json", body: body(extra) }));
  const events: Obj[] = [];
  try {
    for await (const part of out.body as AsyncIterable<ResponseStream>)
      if (part.chunk?.bytes) events.push(JSON.parse(new TextDecoder().decode(part.chunk.bytes)) as Obj);
  } catch (error) { return { events, error: error as Error }; }
  return { events };
}
const textOf = (events: Obj[]) => events.map((e) => ((e.delta as Obj | undefined)?.type === "text_delta" ? (e.delta as Obj).text : "")).join("");

describe("Bedrock stand-in: Claude InvokeModel from workerd", () => {
  it("streams Anthropic events in chunk frames, ending with invocation metrics", async () => {
    const { events, error } = await stream({ messages: [{ role: "user", content: "hi from workerd" }] });
    expect(error).toBeUndefined();
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(["message_start", "content_block_start", "content_block_stop", "message_delta", "message_stop"]));
    expect(events[0]!.type).toBe("message_start");
    expect(textOf(events)).toBe("(local Bedrock stand-in) You said: hi from workerd");
    expect(events.at(-1)!["amazon-bedrock-invocationMetrics"]).toMatchObject({ inputTokenCount: expect.any(Number), outputTokenCount: expect.any(Number) });
  });

  it("scripted tool call, cache read on the second call, mid-stream exception", async () => {
    const { key, tag } = scenario();
    await script(key, [{ toolUse: { name: "remember", input: { text: "tea" } } }, { streamError: "throttlingException", afterPieces: 1, text: "a b c d" }]);
    const tools = [{ name: "remember", input_schema: { type: "object" }, cache_control: { type: "ephemeral" } }];
    const system = [{ type: "text", text: `${tag} ${"Long stable instructions. ".repeat(30)}`, cache_control: { type: "ephemeral" } }];
    const first = await stream({ tools, system, messages: [{ role: "user", content: "remember tea" }] });
    const start = first.events.find((e) => e.type === "content_block_start");
    expect(start?.content_block).toMatchObject({ type: "tool_use", name: "remember" });
    expect((first.events.at(-2)!.delta as Obj).stop_reason).toBe("tool_use");
    const usage1 = ((first.events[0]!.message as Obj).usage as Obj);
    expect(usage1.cache_creation_input_tokens).toBeGreaterThan(0);

    const second = await stream({ tools, system, messages: [{ role: "user", content: "again" }] });
    expect(second.error?.name).toBe("ThrottlingException");
    expect(((second.events[0]!.message as Obj).usage as Obj).cache_read_input_tokens).toBe(usage1.cache_creation_input_tokens);
    const recorded = await claudeRequests(key);
    expect(recorded.map((r) => [r.operation, r.status])).toEqual([["invoke-with-response-stream", 200], ["invoke-with-response-stream", 200]]);
    expect(recorded[0]!.body.tools?.[0]).toMatchObject({ name: "remember" });
  });

  it("InvokeModel answers the message JSON; a refused body is a ValidationException", async () => {
    const r = await client().send(new InvokeModelCommand({ modelId: OPUS, contentType: "application/json", body: body({ messages: [{ role: "user", content: "plain" }] }) }));
    const msg = JSON.parse(new TextDecoder().decode(r.body)) as Obj;
    expect(msg).toMatchObject({ type: "message", role: "assistant", model: "claude-opus-4-6", stop_reason: "end_turn" });
    await expect(client().send(new InvokeModelCommand({ modelId: OPUS, body: body({ model: "claude-opus-4-6", messages: [{ role: "user", content: "x" }] }) })))
      .rejects.toMatchObject({ name: "ValidationException", message: expect.stringContaining("extraneous key [model] is not permitted") });
  });
});

describe("anthropic-rules", () => {
  const ok = { anthropic_version: "bedrock-2023-05-31", max_tokens: 100, messages: [{ role: "user", content: "hi" }] };
  const judge = (patch: Obj) => validateAnthropic({ ...ok, ...patch }, OPUS);

  it("accepts a plain body, refuses Bedrock's known refusals", () => {
    expect(judge({})).toBeUndefined();
    expect(judge({ anthropic_version: "2023-06-01" })).toMatch(/anthropic_version/);
    expect(judge({ max_tokens: 128_001 })).toMatch(/128001 > 128000/);
    expect(judge({ temperature: 0.5, top_p: 0.9 })).toMatch(/cannot both be specified/);
    expect(judge({ messages: [{ role: "user", content: " " }] })).toMatch(/non-whitespace/);
    const use = { role: "assistant", content: [{ type: "tool_use", id: "toolu_1", name: "t", input: {} }] };
    const tools = [{ name: "t", input_schema: { type: "object" } }];
    expect(judge({ tools, messages: [ok.messages[0], use, { role: "user", content: "no result" }] })).toMatch(/without `tool_result` blocks/);
    expect(judge({ messages: [ok.messages[0], use, { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_1" }] }] })).toMatch(/must define tools/);
    const cached = { type: "text", text: "x", cache_control: { type: "ephemeral" } };
    expect(judge({ system: [cached, cached, cached, cached, cached] })).toMatch(/maximum of 4 blocks with cache_control/);
    expect(judge({ messages: [{ role: "user", content: [{ type: "image", source: { type: "base64", media_type: "image/png", data: "/9j/4AAQ" } }] }] }))
      .toMatch(/appears to be a image\/jpeg image/);
  });
});
