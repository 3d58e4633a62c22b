/**
 * The prompt is valid Converse by construction: thousands of random histories (failed, cancelled,
 * interrupted, queued and empty replies, replies regenerated, consecutive messages of one role, a
 * history trimmed to start mid-conversation) with random tool rounds, each built prompt judged by
 * the same strict rules the Bedrock stand-in applies (dev/converse-rules.ts). User messages may carry
 * images (every format, image-only messages, images no longer loaded), more than one request may
 * hold: the newest 20 are kept.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { validateConverse } from "../dev/converse-rules.ts";
import { appendToolRound, buildConverseParts, MAX_PROMPT_IMAGES, type PromptImage, type PromptTurn, type ToolRound } from "../src/lib/chat/prompt.ts";
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

/** The smallest byte strings each format's magic bytes accept (the rules check the signature, not the pixels). */
const MAGIC: Record<PromptImage["format"], number[]> = {
  png: [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0],
  jpeg: [0xff, 0xd8, 0xff, 0xe0, 0, 0x10],
  gif: [0x47, 0x49, 0x46, 0x38, 0x39, 0x61],
  webp: [0x52, 0x49, 0x46, 0x46, 0, 0, 0, 0, 0x57, 0x45, 0x42, 0x50],
};
const image: fc.Arbitrary<PromptImage> = fc
  .record({ format: fc.constantFrom<PromptImage["format"]>("png", "jpeg", "gif", "webp"), tail: fc.uint8Array({ maxLength: 8 }) })
  .map(({ format, tail }) => ({ format, bytes: new Uint8Array([...MAGIC[format], ...tail]) }));
/** A user message's images: none, some loaded, or ids whose bytes were not loaded (older than the newest 20, gone). */
const attachments = fc.oneof(
  { weight: 3, arbitrary: fc.constant({ imageIds: [] as string[], images: [] as PromptImage[] }) },
  { weight: 2, arbitrary: fc.array(image, { minLength: 1, maxLength: 4 }).map((images) => ({ imageIds: images.map((_, k) => `img_${k}`), images })) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 4 }).map((n) => ({ imageIds: Array.from({ length: n }, (_, k) => `img_gone_${k}`), images: [] as PromptImage[] })) },
);

/** A history: user messages, each with zero to two replies, in an order a real object can produce. */
const history: fc.Arbitrary<PromptTurn[]> = fc
  .array(
    fc.record({
      text: storedText,
      attached: attachments,
      replies: fc.array(fc.record({ text: storedText, status: fc.constantFrom(...STATUSES) }), { maxLength: 2 }),
      // A trimmed history may begin with a reply whose message fell outside the budget.
      orphanReply: fc.boolean(),
    }),
    { maxLength: 12 },
  )
  .map((exchanges) => {
    const rows: PromptTurn[] = [];
    exchanges.forEach((exchange, i) => {
      const { imageIds, images } = exchange.attached;
      if (!(i === 0 && exchange.orphanReply)) rows.push({ id: `u${i}`, role: "user", text: exchange.text, ...(imageIds.length ? { imageIds, images } : {}) });
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

/** The new message: text, or images with or without text. */
const newMessage = fc.oneof(
  fc.record({ text: userText, images: fc.constant<PromptImage[]>([]) }),
  fc.record({ text: fc.oneof(fc.constant(""), userText), images: fc.array(image, { minLength: 1, maxLength: 4 }) }),
);

/** As the SDK sends it: blobs as base64. */
function wire(body: unknown): unknown {
  return JSON.parse(JSON.stringify(body, (_key, value: unknown) => (value instanceof Uint8Array ? btoa(String.fromCharCode(...value)) : value)));
}

function imageBlocks(messages: { content?: unknown[] }[]): number {
  return messages.reduce((n, m) => n + (m.content ?? []).filter((b) => typeof b === "object" && b !== null && "image" in b).length, 0);
}

function requestBody(turns: PromptTurn[], text: string, rounds: ToolRound[], userImages: PromptImage[] = []) {
  const parts = buildConverseParts({ systemPrompt: "You are a companion.", tools: TOOL_SPECS, history: turns, userText: text, userImages });
  for (const round of rounds) appendToolRound(parts.messages, round);
  return { system: parts.system, messages: parts.messages, toolConfig: { tools: parts.tools }, inferenceConfig: { maxTokens: 8_192 } };
}

describe("the prompt Bedrock accepts by construction", () => {
  it("is valid Converse for any history, images and tool rounds (5,000 random cases)", () => {
    fc.assert(
      fc.property(history, newMessage, toolRounds, (turns, message, rounds) => {
        const body = requestBody(turns, message.text, rounds, message.images);
        const refusal = validateConverse(wire(body), MODEL);
        if (refusal) throw new Error(`Bedrock would refuse: ${refusal}`);
      }),
      { numRuns: 5_000 },
    );
  });

  it("keeps the newest images, at most 20, and every image of the new message, in order", () => {
    fc.assert(
      fc.property(history, newMessage, (turns, message) => {
        const { messages } = requestBody(turns, message.text, [], message.images);
        const shown = messages.flatMap((m) => m.content!.flatMap((b) => ("image" in b && b.image ? [b.image.source!.bytes as Uint8Array] : [])));
        expect(shown.length).toBeLessThanOrEqual(MAX_PROMPT_IMAGES);
        const last = messages.at(-1)!.content!;
        const mine = last.flatMap((b) => ("image" in b && b.image ? [b.image.source!.bytes] : []));
        if (message.images.length) expect(mine.slice(-message.images.length)).toEqual(message.images.map((i) => i.bytes));
        // What is kept keeps its order: the images sent appear in the order the history offers them.
        const offered = [...turns.flatMap((t) => (t.role === "user" ? (t.images ?? []) : [])), ...message.images].map((i) => i.bytes);
        let at = 0;
        for (const bytes of shown) {
          while (at < offered.length && offered[at] !== bytes) at++;
          expect(at).toBeLessThan(offered.length);
          at++;
        }
      }),
      { numRuns: 2_000 },
    );
    expect(imageBlocks([{ content: [{ image: {} }, { text: "x" }] }])).toBe(1);
  });

  it("ends with the new message and keeps every word the person said that was not withdrawn", () => {
    fc.assert(
      fc.property(history, userText, (turns, text) => {
        const { messages } = requestBody(turns, text, []);
        expect(imageBlocks(messages)).toBeLessThanOrEqual(MAX_PROMPT_IMAGES);
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
