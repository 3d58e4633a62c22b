/**
 * Loads the bytes of the images a prompt will show, before `buildConversation` runs (it stays pure).
 * Only the newest images are read: at most MAX_PROMPT_IMAGES, and at most MAX_PROMPT_IMAGE_BYTES in
 * all, since a Converse request may be 20 MB and base64 grows bytes by a third. Older ones are
 * left out first; an image gone from R2 is simply not shown.
 */
import { MAX_PROMPT_IMAGES, type PromptImage, type PromptTurn } from "../chat/prompt.ts";
import { loadImage } from "./user-images.ts";

export const MAX_PROMPT_IMAGE_BYTES = 12 * 1024 * 1024;

export async function withImages(
  bucket: R2Bucket,
  userId: string,
  history: PromptTurn[],
  userImageIds: string[],
): Promise<{ history: PromptTurn[]; userImages: PromptImage[] }> {
  const wanted: { turn: number; id: string }[] = [];
  history.forEach((turn, i) => {
    if (turn.role === "user") for (const id of turn.imageIds ?? []) wanted.push({ turn: i, id });
  });
  for (const id of userImageIds) wanted.push({ turn: history.length, id });
  if (wanted.length === 0) return { history, userImages: [] };

  const loaded = new Map<number, PromptImage[]>();
  let count = 0;
  let bytes = 0;
  for (let i = wanted.length - 1; i >= 0 && count < MAX_PROMPT_IMAGES; i--) {
    const { turn, id } = wanted[i]!;
    const image = await loadImage(bucket, userId, id);
    if (!image) continue;
    if (bytes + image.bytes.length > MAX_PROMPT_IMAGE_BYTES) break;
    bytes += image.bytes.length;
    count++;
    loaded.set(turn, [image, ...(loaded.get(turn) ?? [])]);
  }
  return {
    history: history.map((turn, i) => (loaded.has(i) ? { ...turn, images: loaded.get(i) } : turn)),
    userImages: loaded.get(history.length) ?? [],
  };
}
