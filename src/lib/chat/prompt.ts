/**
 * The Converse request: the system prompt from the workspace files in a stable order (so the cached
 * prefix stays byte-identical between turns), the tools, the trimmed history, and cache points.
 */
import type { ContentBlock, Message, SystemContentBlock, Tool } from "@aws-sdk/client-bedrock-runtime";

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

/**
 * Cache points (at most 4; Bedrock requires non-increasing TTLs in prompt order, and all of ours use
 * the default 5 minutes): after the tools, after the system prompt, and on the last two completed
 * turns, so turn N+1 reads turns 1..N-1 from cache and writes through turn N.
 */
export function buildConverseParts(input: {
  systemPrompt: string;
  tools: Tool[];
  history: { role: "user" | "assistant"; text: string }[];
  userText: string;
}): { system: SystemContentBlock[]; tools: Tool[]; messages: Message[] } {
  const messages: Message[] = input.history.map((turn) => ({ role: turn.role, content: [{ text: turn.text }] as ContentBlock[] }));
  // The last completed turn gets a point (this turn writes the prefix up to it), and so does the
  // assistant turn before it: that is where the previous request wrote, so this one reads it even
  // without Bedrock's look-back over earlier blocks.
  for (const turn of messages.filter((m) => m.role === "assistant").slice(-2)) turn.content?.push(CACHE_POINT);
  messages.push({ role: "user", content: [{ text: input.userText }] });
  return {
    system: [{ text: input.systemPrompt }, CACHE_POINT],
    tools: input.tools.length ? [...input.tools, CACHE_POINT] : [],
    messages,
  };
}
