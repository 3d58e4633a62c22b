/**
 * The Converse request: the system prompt from the workspace files in a stable order (so the cached
 * prefix stays byte-identical between turns), the tools, the trimmed history, and cache points.
 */
import type { ContentBlock, Message, SystemContentBlock, Tool } from "@aws-sdk/client-bedrock-runtime";
import type { ImageFormat } from "../images/image-bytes.ts";

/** Files that shape who the companion is come first; the rest follow alphabetically. */
const FILE_ORDER = ["SOUL.md", "IDENTITY.md", "USER.md", "AGENTS.md", "TOOLS.md", "MEMORY.md", "HEARTBEAT.md"];

/** History sent to the model, in characters (~4 per token): ~60k tokens leaves room for the reply. */
export const HISTORY_CHAR_BUDGET = 240_000;

export function orderWorkspaceFiles<T extends { name: string }>(files: T[]): T[] {
  const rank = (name: string) => {
    const index = FILE_ORDER.indexOf(name);
    return index === -1 ? FILE_ORDER.length : index;
  };
  return [...files].sort((a, b) => rank(a.name) - rank(b.name) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export function buildSystemPrompt(files: { name: string; content: string }[]): string {
  const parts = [
    "You are a personal AI companion. The files below are your workspace: who you are (SOUL.md, IDENTITY.md), who you talk with (USER.md) and what you remember (MEMORY.md). Stay true to them.",
    "When the person tells you something worth keeping, call the `remember` tool. When they ask for a picture, call `generate_image`.",
  ];
  for (const file of orderWorkspaceFiles(files)) {
    if (file.content.trim() === "") continue;
    parts.push(`<file name="${file.name}">\n${file.content.trim()}\n</file>`);
  }
  return parts.join("\n\n");
}

const CACHE_POINT = { cachePoint: { type: "default" as const } };

/** A stored message as the prompt sees it: a failed or cancelled reply may have no text at all. */
export interface PromptTurn {
  id: string;
  role: "user" | "assistant";
  text: string;
  /** Replies: how they ended (`queued`, `streaming`, `done`, `error`, `interrupted`, `cancelled`). */
  status?: string | null;
  /** Replies: the client id of the message they answer. */
  replyTo?: string | null;
  /** User messages: the ids of the images they carried (stored in R2). */
  imageIds?: string[];
  /** User messages: those images' bytes, loaded before the prompt is built (`prompt-images.ts`). */
  images?: PromptImage[];
}

/** An image as a Converse image block carries it. */
export interface PromptImage {
  format: ImageFormat;
  bytes: Uint8Array;
}

/** Converse takes at most 20 images in one request; older ones are left out first. */
export const MAX_PROMPT_IMAGES = 20;
/** Said in place of images that no longer fit, so the model knows something was shown. */
export const IMAGE_LEFT_OUT = "(an image shared earlier; no longer in view)";

/**
 * The conversation as Bedrock accepts it, whatever history holds. Bedrock (Converse) wants the first
 * message from the user, roles that alternate, no blank text block and, for Opus 4.6, a last message
 * from the user. History breaks that whenever a reply produced nothing (failed, refused over budget,
 * cut off before its first piece): two user messages then follow each other. As Anthropic's own API
 * does with consecutive user turns, they are merged into one user message, one text block each, so
 * the model sees everything the person said and answers it now; the failed message itself stays
 * visible in the stored history. A message the person withdrew (its reply cancelled before any
 * text, or dropped from the queue) is left out: they took it back. Neighbouring replies (a reply
 * regenerated after an empty one) merge the same way. Text already shown of an interrupted or
 * cancelled reply stays in as the assistant's turn: the person saw it.
 */
export function buildConversation(history: PromptTurn[], userText: string, userImages: PromptImage[] = []): Message[] {
  const withdrawn = withdrawnMessages(history);
  const kept = history.filter((turn) => !(turn.role === "user" && withdrawn.has(turn.id)));
  const allowed = imageAllowance([...kept.map((turn) => (turn.role === "user" ? (turn.images?.length ?? 0) : 0)), userImages.length]);
  const messages: Message[] = [];
  const add = (role: "user" | "assistant", text: string, images: PromptImage[], allow: number, hadImages: boolean) => {
    // The newest images of a message are kept when only some fit; a message left with nothing says so.
    const shown = allow > 0 ? images.slice(-allow) : [];
    const blocks: ContentBlock[] = shown.map((image) => ({ image: { format: image.format, source: { bytes: image.bytes } } }));
    if (text.trim() !== "") blocks.push({ text });
    else if (blocks.length === 0 && hadImages) blocks.push({ text: IMAGE_LEFT_OUT });
    if (blocks.length === 0) return;
    const last = messages[messages.length - 1];
    if (last?.role === role) last.content!.push(...blocks);
    else if (role === "user" || messages.length > 0) messages.push({ role, content: blocks });
  };
  kept.forEach((turn, i) => {
    const user = turn.role === "user";
    add(turn.role, turn.text, user ? (turn.images ?? []) : [], allowed[i]!, user && ((turn.imageIds?.length ?? 0) > 0 || (turn.images?.length ?? 0) > 0));
  });
  add("user", userText, userImages, allowed[kept.length]!, userImages.length > 0);
  return messages;
}

/** How many images each message may show: the newest MAX_PROMPT_IMAGES in the whole prompt. */
function imageAllowance(counts: number[]): number[] {
  let left = MAX_PROMPT_IMAGES;
  const allowed = counts.map(() => 0);
  for (let i = counts.length - 1; i >= 0; i--) {
    allowed[i] = Math.min(counts[i]!, left);
    left -= allowed[i]!;
  }
  return allowed;
}

/** User messages whose every reply was cancelled before it said anything. */
function withdrawnMessages(history: PromptTurn[]): Set<string> {
  const cancelledEmpty = new Set<string>();
  const answered = new Set<string>();
  for (const turn of history) {
    if (turn.role !== "assistant" || !turn.replyTo) continue;
    if (turn.text.trim() !== "") answered.add(turn.replyTo);
    else if (turn.status === "cancelled") cancelledEmpty.add(turn.replyTo);
  }
  return new Set([...cancelledEmpty].filter((id) => !answered.has(id)));
}

/**
 * Cache points (at most 4; Bedrock requires non-increasing TTLs in prompt order, and all of ours use
 * the default 5 minutes): after the tools, after the system prompt, and on the last two completed
 * turns, so turn N+1 reads turns 1..N-1 from cache and writes through turn N.
 */
export function buildConverseParts(input: {
  systemPrompt: string;
  tools: Tool[];
  history: PromptTurn[];
  userText: string;
  userImages?: PromptImage[];
}): { system: SystemContentBlock[]; tools: Tool[]; messages: Message[] } {
  const messages = buildConversation(input.history, input.userText, input.userImages);
  // The last completed turn gets a point (this turn writes the prefix up to it), and so does the
  // assistant turn before it: that is where the previous request wrote, so this one reads it even
  // without Bedrock's look-back over earlier blocks.
  for (const turn of messages.filter((m) => m.role === "assistant").slice(-2)) turn.content?.push(CACHE_POINT);
  return {
    system: [{ text: input.systemPrompt }, CACHE_POINT],
    tools: input.tools.length ? [...input.tools, CACHE_POINT] : [],
    messages,
  };
}

/** A model turn that asked for tools, as the next request must repeat it. */
export interface ToolRound {
  text: string;
  toolUses: { toolUseId: string; name: string; input: unknown }[];
  results: { toolUseId: string; text: string; ok: boolean }[];
}

/**
 * Appends one tool round: the assistant's text (when not blank) and its toolUse blocks, then one user
 * message answering every toolUse with its toolResult (Bedrock refuses a toolUse left unanswered, a
 * blank text block, and a tool result without content).
 */
export function appendToolRound(messages: Message[], round: ToolRound): void {
  messages.push({
    role: "assistant",
    content: [
      ...(round.text.trim() ? [{ text: round.text }] : []),
      ...round.toolUses.map((toolUse) => ({ toolUse: { toolUseId: toolUse.toolUseId, name: toolUse.name, input: isPlainObject(toolUse.input) ? toolUse.input : {} } })),
    ] as ContentBlock[],
  });
  messages.push({
    role: "user",
    content: round.toolUses.map((toolUse) => {
      const result = round.results.find((r) => r.toolUseId === toolUse.toolUseId);
      const text = result?.text.trim() ? result.text : result ? "(no output)" : "The tool was not run.";
      return { toolResult: { toolUseId: toolUse.toolUseId, content: [{ text }], status: result?.ok ? ("success" as const) : ("error" as const) } };
    }) as ContentBlock[],
  });
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
