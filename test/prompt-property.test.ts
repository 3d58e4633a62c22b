/**
 * The prompt is valid Converse by construction: thousands of random histories (failed, cancelled,
 * interrupted, queued and empty replies, replies regenerated, consecutive messages of one role, a
 * history trimmed to start mid-conversation) with random tool rounds, each built prompt judged by
 * the same strict rules the Bedrock stand-in applies (dev/converse-rules.ts).
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { validateConverse } from "../dev/converse-rules.ts";
import { appendToolRound, buildConverseParts, type PromptTurn, type ToolRound } from "../src/lib/chat/prompt.ts";
import { TOOL_SPECS } from "../src/lib/chat/tools.ts";

const MODEL = "global.anthropic.claude-opus-4-6-v1";
const STATUSES = ["done", "error", "interrupted", "cancelled", "queued", "streaming"] as const;

/** Text as history may hold it: empty, blank, or words (emoji and other scripts included). */
const storedText = fc.oneof(
  fc.constant(""),
  fc.constantFrom(" ", "\n\n", "\t "),
  fc.string({ minLength: 1, maxLength: 40 }),
  fc.constantFrom("héllo wörld", "こんにちは", "🦉 hoo", "line one\nline two"),
);
const userText = fc.string({ minLength: 1, maxLength: 40 }).filter((t) => t.trim() !== "");

/** A history: user messages, each with zero to two replies, in an order a real object can produce. */
const history: fc.Arbitrary<PromptTurn[]> = fc
  .array(
    fc.record({
      text: storedText,
      replies: fc.array(fc.record({ text: storedText, status: fc.constantFrom(...STATUSES) }), { maxLength: 2 }),
      // A trimmed history may begin with a reply whose message fell outside the budget.
      orphanReply: fc.boolean(),
    }),
    { maxLength: 12 },
  )
  .map((exchanges) => {
    const rows: PromptTurn[] = [];
    exchanges.forEach((exchange, i) => {
      if (!(i === 0 && exchange.orphanReply)) rows.push({ id: `u${i}`, role: "user", text: exchange.text });
      exchange.replies.forEach((reply, j) => rows.push({ id: `a${i}_${j}`, role: "assistant", text: reply.text, status: reply.status, replyTo: `u${i}` }));
    });
    return rows;
  });

const toolRound = fc.record({
  text: storedText,
  uses: fc.array(
    fc.record({
      name: fc.constantFrom("remember", "generate_image"),
      input: fc.oneof(fc.constant<unknown>({}), fc.constant<unknown>(null), fc.dictionary(fc.string({ maxLength: 5 }), fc.string())),
      result: storedText,
      ok: fc.boolean(),
      // A tool that threw before answering has no result at all.
      ran: fc.boolean(),
    }),
    { minLength: 1, maxLength: 3 },
  ),
});

const toolRounds: fc.Arbitrary<ToolRound[]> = fc.array(toolRound, { maxLength: 3 }).map((rounds) =>
  rounds.map((round, r) => ({
    text: round.text,
    toolUses: round.uses.map((use, k) => ({ toolUseId: `tooluse_${r}_${k}`, name: use.name, input: use.input })),
    results: round.uses.flatMap((use, k) => (use.ran ? [{ toolUseId: `tooluse_${r}_${k}`, text: use.result, ok: use.ok }] : [])),
  })),
);

function requestBody(turns: PromptTurn[], text: string, rounds: ToolRound[]) {
  const parts = buildConverseParts({ systemPrompt: "You are a companion.", tools: TOOL_SPECS, history: turns, userText: text });
  for (const round of rounds) appendToolRound(parts.messages, round);
  return { system: parts.system, messages: parts.messages, toolConfig: { tools: parts.tools }, inferenceConfig: { maxTokens: 8_192 } };
}

describe("the prompt Bedrock accepts by construction", () => {
  it("is valid Converse for any history and any tool rounds (5,000 random cases)", () => {
    fc.assert(
      fc.property(history, userText, toolRounds, (turns, text, rounds) => {
        const body = requestBody(turns, text, rounds);
        const refusal = validateConverse(JSON.parse(JSON.stringify(body)), MODEL);
        if (refusal) throw new Error(`Bedrock would refuse: ${refusal}`);
      }),
      { numRuns: 5_000 },
    );
  });

  it("ends with the new message and keeps every word the person said that was not withdrawn", () => {
    fc.assert(
      fc.property(history, userText, (turns, text) => {
        const { messages } = requestBody(turns, text, []);
        const last = messages.at(-1)!;
        expect(last.role).toBe("user");
        expect(last.content!.at(-1)).toEqual({ text });
        const sent = messages.flatMap((m) => m.content!.flatMap((b) => ("text" in b && b.text !== undefined ? [b.text] : [])));
        const answeredOrFailed = (id: string) => {
          const replies = turns.filter((t) => t.replyTo === id);
          return replies.some((r) => r.text.trim() !== "") || !replies.some((r) => r.status === "cancelled");
        };
        const started = turns.findIndex((t) => t.role === "user");
        for (const turn of turns.slice(started)) {
          if (turn.role === "user" && turn.text.trim() !== "" && answeredOrFailed(turn.id)) expect(sent).toContain(turn.text);
        }
      }),
      { numRuns: 2_000 },
    );
  });
});

describe("the stand-in's Converse rules", () => {
  const ok = { messages: [{ role: "user", content: [{ text: "hi" }] }] };
  const png = btoa(String.fromCharCode(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0));
  const image = (format: string, bytes: string) => ({ messages: [{ role: "user", content: [{ text: "look" }, { image: { format, source: { bytes } } }] }] });

  it("accepts a plain conversation and a real PNG", () => {
    expect(validateConverse(ok, MODEL)).toBeUndefined();
    expect(validateConverse(image("png", png), MODEL)).toBeUndefined();
  });

  it("refuses what Bedrock refuses", () => {
    const refusals: [unknown, RegExp][] = [
      [{ messages: [...ok.messages, { role: "assistant", content: [{ text: "Sure" }] }] }, /prefill/],
      [{ messages: [{ role: "user", content: [{ text: "  " }] }] }, /blank/],
      [{ messages: [{ role: "user", content: [{ text: "a" }] }, { role: "user", content: [{ text: "b" }] }] }, /alternate/],
      [{ messages: [{ role: "assistant", content: [{ text: "a" }] }, { role: "user", content: [{ text: "b" }] }] }, /start with a user/],
      [image("bmp", png), /format must be one of/],
      [image("jpeg", png), /does not match the format jpeg/],
      [image("png", btoa("not an image at all")), /not an image/],
      [image("png", "%%%"), /base64/],
      [{ messages: [{ role: "user", content: Array.from({ length: 21 }, () => ({ image: { format: "png", source: { bytes: png } } })) }] }, /Too many images/],
      [{ messages: [{ role: "user", content: [{ text: "a" }, ...Array.from({ length: 5 }, () => ({ cachePoint: { type: "default" } }))] }] }, /maximum of 4/],
    ];
    for (const [body, message] of refusals) expect(validateConverse(body, MODEL)).toMatch(message);
  });
});
