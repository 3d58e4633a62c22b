/**
 * Images a person sends, kept in R2 under their own id (the same keys as generated images, so
 * `GET /api/images/:id`, the export and the account deletion cover them). Every refusal happens
 * before anything is written, so a bad image changes nothing.
 */
import { HttpError } from "../errors.ts";
import { randomToken } from "../crypto.ts";
import { IMAGE_ID_PATTERN, imageKey } from "../chat/tools.ts";
import type { StoredImage } from "../chat/history.ts";
import { CONTENT_TYPES, MAX_IMAGE_BYTES, MAX_IMAGES_PER_MESSAGE, sniffImage, stripMetadata, type ImageFormat } from "./image-bytes.ts";

export const ACCEPTED_IMAGES = "JPEG, PNG, WebP or GIF";

export function imageUrl(id: string): string {
  return `/api/images/${id}`;
}

/** Checks the bytes (format by magic bytes, size), strips metadata, stores them. */
export async function storeImage(bucket: R2Bucket, userId: string, bytes: Uint8Array, options: { alt: string; id?: string }): Promise<StoredImage & { id: string; format: ImageFormat }> {
  const format = checkImage(bytes);
  const id = options.id ?? `img_${randomToken(12)}`;
  const clean = stripMetadata(bytes, format);
  await bucket.put(imageKey(userId, id), clean, { httpMetadata: { contentType: CONTENT_TYPES[format] }, customMetadata: { alt: options.alt.slice(0, 200), source: "user" } });
  return { id, url: imageUrl(id), alt: options.alt.slice(0, 200), format };
}

/** The image's format, or a clear refusal: empty, too big, or not one of the four formats. */
export function checkImage(bytes: Uint8Array): ImageFormat {
  if (bytes.length === 0) throw new HttpError(400, "invalid_image", "The image is empty.");
  if (bytes.length > MAX_IMAGE_BYTES) throw imageTooLarge();
  const format = sniffImage(bytes);
  if (!format) throw new HttpError(415, "unsupported_image", `This is not an image I can read: send a ${ACCEPTED_IMAGES} image.`);
  return format;
}

export function imageTooLarge(): HttpError {
  return new HttpError(413, "image_too_large", `An image may be at most ${(MAX_IMAGE_BYTES / 1024 / 1024).toFixed(2)} MB. Send a smaller one.`);
}

/**
 * The images a chat message refers to (ids from `POST /api/images`): at most MAX_IMAGES_PER_MESSAGE,
 * each one the sender's own. `undefined` or `[]` is no image.
 */
export async function resolveImageIds(bucket: R2Bucket, userId: string, ids: unknown): Promise<StoredImage[]> {
  if (ids === undefined || ids === null) return [];
  if (!Array.isArray(ids)) throw new HttpError(400, "invalid_images", "images must be an array of image ids from POST /api/images.");
  if (ids.length > MAX_IMAGES_PER_MESSAGE) throw new HttpError(400, "too_many_images", `A message may carry at most ${MAX_IMAGES_PER_MESSAGE} images.`);
  const unique = [...new Set(ids)];
  const images: StoredImage[] = [];
  for (const id of unique) {
    if (typeof id !== "string" || !IMAGE_ID_PATTERN.test(id)) throw new HttpError(400, "invalid_images", "images must be an array of image ids from POST /api/images.");
    const head = await bucket.head(imageKey(userId, id));
    if (!head) throw new HttpError(400, "image_not_found", "One of the images is not there any more. Attach it again.");
    images.push({ url: imageUrl(id), alt: head.customMetadata?.alt ?? "image" });
  }
  return images;
}

/** An image's bytes and real format, or null when it is gone or not readable as an image. */
export async function loadImage(bucket: R2Bucket, userId: string, id: string): Promise<{ format: ImageFormat; bytes: Uint8Array } | null> {
  const object = await bucket.get(imageKey(userId, id));
  if (!object) return null;
  const bytes = new Uint8Array(await object.arrayBuffer());
  const format = sniffImage(bytes);
  return format && bytes.length <= MAX_IMAGE_BYTES ? { format, bytes } : null;
}
