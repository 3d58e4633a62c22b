/**
 * The user's message as the container's `/v1/chat/completions` takes it (issue 18): text alone, or,
 * with images, OpenAI content parts, the text first and each image an `image_url` part with a
 * base64 `data:` URL.
 *
 * OpenClaw (2026.9.6, src/gateway/openai-http.ts) reads `image_url` parts of the last user message
 * only, takes `data:<mime>;base64,` URLs (remote URLs are off by default), checks each with its
 * input-image rules (JPEG, PNG, GIF, WebP, HEIC; at most 8 parts, 10 MiB each, 20 MiB in all, a
 * 20 MiB body) and hands them to its agent run as images; its model call through the Worker's
 * gateway then carries them as Anthropic image blocks. Our own caps are tighter: the images come
 * from `withImages` (at most MAX_PROMPT_IMAGE_BYTES, 12 MiB, before base64), and a message carries
 * at most MAX_IMAGES_PER_MESSAGE.
 */
import { toBase64 } from "../crypto.ts";
import { CONTENT_TYPES } from "../images/image-bytes.ts";
import type { PromptImage } from "../chat/prompt.ts";

export type ChatContentPart = { type: "text"; text: string } | { type: "image_url"; image_url: { url: string } };

/** The `content` of the user's message: a plain string without images, parts with them. */
export function userContent(text: string, images: PromptImage[]): string | ChatContentPart[] {
  if (images.length === 0) return text;
  const parts: ChatContentPart[] = text.trim() === "" ? [] : [{ type: "text", text }];
  for (const image of images) parts.push({ type: "image_url", image_url: { url: `data:${CONTENT_TYPES[image.format]};base64,${toBase64(image.bytes)}` } });
  return parts;
}
