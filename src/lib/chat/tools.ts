/**
 * The tools Claude may call in direct chat: `remember` (a normal MEMORY.md change: new version,
 * change event, Fly sync) and `generate_image` (Bedrock InvokeModel, PNG stored in R2).
 */
import type { Tool } from "@aws-sdk/client-bedrock-runtime";
import type { Workspace } from "../workspace.ts";
import { byteLength, MAX_FILE_BYTES } from "../workspace.ts";
import { randomToken } from "../crypto.ts";

export const TOOL_SPECS: Tool[] = [
  {
    toolSpec: {
      name: "remember",
      description: "Save a short fact about the person or your shared history to MEMORY.md, so you remember it in every future conversation.",
      inputSchema: { json: { type: "object", properties: { fact: { type: "string", description: "One self-contained sentence." } }, required: ["fact"] } },
    },
  },
  {
    toolSpec: {
      name: "generate_image",
      description: "Create a picture from a description and show it to the person.",
      inputSchema: {
        json: {
          type: "object",
          properties: { prompt: { type: "string", description: "What the picture shows, in detail." }, alt: { type: "string", description: "A short description for people who cannot see it." } },
          required: ["prompt"],
        },
      },
    },
  },
];

export interface ToolOutcome {
  text: string;
  ok: boolean;
  image?: { url: string; alt: string };
}

export interface ToolContext {
  workspace: Workspace;
  images: R2Bucket;
  userId: string;
  generateImage(prompt: string): Promise<Uint8Array>;
}

export async function runTool(name: string, input: unknown, ctx: ToolContext): Promise<ToolOutcome> {
  const args = (typeof input === "object" && input !== null ? input : {}) as Record<string, unknown>;
  if (name === "remember") return remember(String(args.fact ?? "").trim(), ctx);
  if (name === "generate_image") return generate(String(args.prompt ?? "").trim(), String(args.alt ?? args.prompt ?? "").trim(), ctx);
  return { ok: false, text: `There is no tool named ${name}.` };
}

async function remember(fact: string, ctx: ToolContext): Promise<ToolOutcome> {
  if (!fact) return { ok: false, text: "Nothing to remember: `fact` was empty." };
  const current = ctx.workspace.read("MEMORY.md")?.content ?? "";
  const line = `- ${fact.replace(/\s+/g, " ").slice(0, 500)}\n`;
  const next = current === "" || current.endsWith("\n") ? current + line : `${current}\n${line}`;
  if (byteLength(next) > MAX_FILE_BYTES) return { ok: false, text: "MEMORY.md is full; ask the person which memories to drop." };
  await ctx.workspace.write("MEMORY.md", next, { source: "tool" });
  return { ok: true, text: "Saved to MEMORY.md." };
}

async function generate(prompt: string, alt: string, ctx: ToolContext): Promise<ToolOutcome> {
  if (!prompt) return { ok: false, text: "Nothing to draw: `prompt` was empty." };
  const png = await ctx.generateImage(prompt);
  const id = `img_${randomToken(12)}`;
  await ctx.images.put(imageKey(ctx.userId, id), png, { httpMetadata: { contentType: "image/png" }, customMetadata: { alt: alt.slice(0, 200) } });
  return { ok: true, text: "The image was created and is shown to the person.", image: { url: `/api/images/${id}`, alt: alt.slice(0, 200) } };
}

/** Images live under their owner's id, so a request for another user's image finds nothing. */
export function imageKey(userId: string, imageId: string): string {
  return `images/${userId}/${imageId}.png`;
}

export const IMAGE_ID_PATTERN = /^img_[A-Za-z0-9_-]{1,40}$/;
