/**
 * Checks of the Bedrock stand-in's Claude path (InvokeModel / InvokeModelWithResponseStream with the
 * native Messages body) against the REAL `@aws-sdk/client-bedrock-runtime`. Run by
 * dev/check-standins.ts, which owns the stand-in and the `check` reporter.
 */
import {
  BedrockRuntimeClient, InvokeModelCommand, InvokeModelWithResponseStreamCommand, type ResponseStream,
} from "@aws-sdk/client-bedrock-runtime";
import { FetchHttpHandler } from "@smithy/fetch-http-handler";

const OPUS = "global.anthropic.claude-opus-4-6-v1";
const SONNET = "global.anthropic.claude-sonnet-4-6";
type Obj = Record<string, unknown>;
type Check = (name: string, fn: () => Promise<void>) => Promise<void>;

function assert(cond: unknown, msg: string): asserts cond { if (!cond) throw new Error(msg); }
const obj = (v: unknown): Obj => (typeof v === "object" && v !== null ? (v as Obj) : {});

/** A decoded stream: Anthropic events in order, and the error the SDK threw mid-stream, if any. */
interface Decoded { events: Obj[]; error?: Error & { $fault?: string }; text: string; toolJson: string }

export async function checkAnthropic(url: string, check: Check): Promise<void> {
  // Node's default handler speaks HTTP/2; the stand-in is HTTP/1.1 like workerd's fetch.
  const client = new BedrockRuntimeClient({
    region: "us-east-1", endpoint: url, requestHandler: new FetchHttpHandler(),
    credentials: { accessKeyId: "AKIDSTANDIN", secretAccessKey: "not-a-real-secret" }, maxAttempts: 1,
  });
  const script = async (key: string, replies: unknown[]) => {
    const r = await fetch(`${url}/__control/script`, { method: "POST", body: JSON.stringify({ key, replies }) });
    assert(r.ok, `script: ${r.status}`);
  };
  const body = (extra: Obj) => JSON.stringify({ anthropic_version: "bedrock-2023-05-31", max_tokens: 1024, ...extra });

  async function stream(payload: Obj, modelId = OPUS): Promise<Decoded> {
    const out = await client.send(new InvokeModelWithResponseStreamCommand({ modelId, contentType: "application/json", body: body(payload) }));
    assert(out.contentType === "application/json", `contentType ${out.contentType}`);
    const events: Obj[] = [];
    let error: Decoded["error"];
    try {
      for await (const part of out.body as AsyncIterable<ResponseStream>)
        if (part.chunk?.bytes) events.push(JSON.parse(new TextDecoder().decode(part.chunk.bytes)) as Obj);
    } catch (e) { error = e as Decoded["error"]; }
    const deltas = events.filter((e) => e.type === "content_block_delta").map((e) => obj(e.delta));
    return {
      events, error,
      text: deltas.filter((d) => d.type === "text_delta").map((d) => d.text).join(""),
      toolJson: deltas.filter((d) => d.type === "input_json_delta").map((d) => d.partial_json).join(""),
    };
  }
  const usageOf = (d: Decoded) => obj(obj(d.events[0]?.message).usage);
  const metricsOf = (d: Decoded) => obj(d.events.at(-1)?.["amazon-bedrock-invocationMetrics"]);

  await check("bedrock/claude: InvokeModelWithResponseStream decodes Anthropic's events in order", async () => {
    const d = await stream({ system: "Be brief.", messages: [{ role: "user", content: "hello claude" }] });
    assert(!d.error, `stream error ${d.error}`);
    const types = d.events.map((e) => e.type);
    assert(types[0] === "message_start" && types[1] === "content_block_start" && types.at(-3) === "content_block_stop"
      && types.at(-2) === "message_delta" && types.at(-1) === "message_stop", `order ${types.join(",")}`);
    const msg = obj(d.events[0]!.message);
    assert(String(msg.id).startsWith("msg_bdrk_") && msg.model === "claude-opus-4-6" && msg.stop_reason === null && Array.isArray(msg.content), JSON.stringify(msg));
    assert(d.text === "(local Bedrock stand-in) You said: hello claude", `text ${JSON.stringify(d.text)}`);
    assert(obj(d.events.at(-2)!.delta).stop_reason === "end_turn", "stop_reason");
    const m = metricsOf(d);
    assert(Number(m.inputTokenCount) > 0 && Number(m.outputTokenCount) > 0 && m.cacheReadInputTokenCount === 0 && typeof m.firstByteLatency === "number", JSON.stringify(m));
    const [rec] = obj(await (await fetch(`${url}/__control/requests?limit=1`)).json()).requests as Obj[];
    assert(rec?.operation === "invoke-with-response-stream" && obj(rec.body).anthropic_version === "bedrock-2023-05-31", JSON.stringify(rec).slice(0, 200));
  });

  const tools = [{ name: "remember", description: "Store a fact", input_schema: { type: "object", properties: { text: { type: "string" } } } }];
  await check("bedrock/claude: scripted toolUse streams a tool_use block; the tool_result turn validates", async () => {
    await script("claude-tool", [{ toolUse: { name: "remember", input: { text: "likes tea" } }, text: "Noted." }]);
    const first = { role: "user", content: [{ type: "text", text: "[[scenario:claude-tool]] I like tea" }] };
    const d = await stream({ tools, messages: [first] }, SONNET);
    const start = d.events.find((e) => e.type === "content_block_start" && obj(e.content_block).type === "tool_use");
    const block = obj(start?.content_block);
    assert(start?.index === 1 && block.name === "remember" && String(block.id).startsWith("toolu_bdrk_"), JSON.stringify(start));
    assert(obj(JSON.parse(d.toolJson)).text === "likes tea" && d.text === "Noted.", `json ${d.toolJson}`);
    assert(obj(d.events.at(-2)!.delta).stop_reason === "tool_use", "stop_reason is not tool_use");
    const again = await stream({ tools, messages: [first,
      { role: "assistant", content: [{ type: "text", text: "Noted." }, { type: "tool_use", id: block.id, name: "remember", input: { text: "likes tea" } }] },
      { role: "user", content: [{ type: "tool_result", tool_use_id: block.id, content: "saved" }] }] }, SONNET);
    assert(!again.error && again.text === "(local Bedrock stand-in) Thanks, I got the tool result.", `follow-up: ${again.error ?? again.text}`);
  });

  await check("bedrock/claude: second call with the same cache_control prefix reads the cache", async () => {
    const system = [{ type: "text", text: "You are a caching test companion. ".repeat(40), cache_control: { type: "ephemeral" } }];
    const a = usageOf(await stream({ system, messages: [{ role: "user", content: "first" }] }));
    const b = await stream({ system, messages: [{ role: "user", content: "second" }] });
    const ub = usageOf(b);
    assert(Number(a.cache_creation_input_tokens) > 0 && a.cache_read_input_tokens === 0, `first ${JSON.stringify(a)}`);
    assert(ub.cache_read_input_tokens === a.cache_creation_input_tokens && ub.cache_creation_input_tokens === 0, `second ${JSON.stringify(ub)}`);
    assert(Number(ub.input_tokens) < Number(a.input_tokens) + Number(a.cache_creation_input_tokens), "input_tokens includes the cache read");
    assert(metricsOf(b).cacheReadInputTokenCount === ub.cache_read_input_tokens, "invocationMetrics disagree with usage");
  });

  await check("bedrock/claude: refusals come back as ValidationException with Bedrock's wording", async () => {
    const refuse = async (payload: Obj, pattern: RegExp) => {
      let e: (Error & { $metadata?: { httpStatusCode?: number } }) | undefined;
      try { await stream(payload); } catch (err) { e = err as typeof e; }
      assert(e?.name === "ValidationException" && e.$metadata?.httpStatusCode === 400 && pattern.test(e.message), `got ${e?.name}: ${e?.message}`);
    };
    await refuse({ stream: true, messages: [{ role: "user", content: "x" }] }, /^Malformed input request: #: extraneous key \[stream\] is not permitted/);
    await refuse({ messages: [{ role: "user", content: "a" }, { role: "user", content: "b" }] }, /roles must alternate between "user" and "assistant"/);
    await refuse({ messages: [{ role: "user", content: "a" }, { role: "assistant", content: "prefill" }] }, /does not support assistant message prefill/);
  });

  await check("bedrock/claude: streamError mid-stream throws after some text; InvokeModel answers JSON", async () => {
    await script("claude-mse", [{ streamError: "modelStreamErrorException", afterPieces: 2, text: "one two three four five six" }]);
    const d = await stream({ messages: [{ role: "user", content: "[[scenario:claude-mse]] hi" }] });
    assert(d.error?.name === "ModelStreamErrorException", `error ${d.error?.name}`);
    assert(d.text.length > 0 && d.text.length < "one two three four five six".length && !d.events.some((e) => e.type === "message_stop"), `text ${d.text}`);
    const r = await client.send(new InvokeModelCommand({ modelId: SONNET, contentType: "application/json", accept: "application/json",
      body: body({ messages: [{ role: "user", content: "plain" }] }) }));
    const msg = JSON.parse(new TextDecoder().decode(r.body)) as Obj;
    const content = msg.content as Obj[];
    assert(msg.type === "message" && content[0]?.text === "(local Bedrock stand-in) You said: plain" && msg.stop_reason === "end_turn"
      && Number(obj(msg.usage).output_tokens) > 0, JSON.stringify(msg));
  });
}
