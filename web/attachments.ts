/**
 * Images attached to the next message: picked with the paperclip, pasted or dropped onto the chat.
 * Each is prepared in the browser (JPEGs are redrawn, which applies the camera's orientation and
 * drops EXIF such as GPS; anything over the size or side limit is scaled down), uploaded at once
 * (`POST /api/images`) and shown as a thumbnail that can be removed; the message then carries the
 * ids. The server checks everything again (by magic bytes); this only makes mistakes rarer.
 */
import type { Api } from "./api.ts";
import { ApiError } from "./api.ts";

export const MAX_ATTACHMENTS = 4;
/** Bedrock's per-image limit, as the server enforces it. */
export const MAX_IMAGE_BYTES = 3_932_160;
/** Claude downsizes anything larger; scaling here keeps uploads small. */
const MAX_SIDE = 2048;
const ACCEPTED = new Set(["image/jpeg", "image/png", "image/webp", "image/gif"]);
export const ACCEPT_ATTRIBUTE = [...ACCEPTED].join(",");

export interface Attachment {
  key: number;
  name: string;
  /** blob: URL of the prepared image, for the thumbnail. */
  preview: string;
  state: "uploading" | "ready" | "failed";
  error?: string;
  uploaded?: { id: string; url: string; alt: string };
}

export class Attachments {
  private items: Attachment[] = [];
  private nextKey = 1;

  constructor(
    private readonly api: Api,
    private readonly onChange: () => void,
  ) {}

  list(): readonly Attachment[] {
    return this.items;
  }

  /** Uploads still running: the message waits for them. */
  busy(): boolean {
    return this.items.some((a) => a.state === "uploading");
  }

  ready(): { id: string; url: string; alt: string }[] {
    return this.items.flatMap((a) => (a.state === "ready" && a.uploaded ? [a.uploaded] : []));
  }

  /** Adds files; returns a message for the ones refused (wrong type, too many), or null. */
  add(files: Iterable<File>): string | null {
    const refused: string[] = [];
    for (const file of files) {
      if (!ACCEPTED.has(file.type)) {
        refused.push(`${file.name || "That file"} is not a JPEG, PNG, WebP or GIF image.`);
        continue;
      }
      if (this.items.length >= MAX_ATTACHMENTS) {
        refused.push(`A message can carry at most ${MAX_ATTACHMENTS} images.`);
        break;
      }
      const item: Attachment = { key: this.nextKey++, name: file.name || "image", preview: URL.createObjectURL(file), state: "uploading" };
      this.items.push(item);
      void this.upload(item, file);
    }
    this.onChange();
    return refused.length ? refused.join(" ") : null;
  }

  remove(key: number): void {
    const item = this.items.find((a) => a.key === key);
    if (!item) return;
    URL.revokeObjectURL(item.preview);
    this.items = this.items.filter((a) => a !== item);
    this.onChange();
  }

  /** The message went out: the tray empties (thumbnails in the sent message load from the server). */
  clear(): void {
    for (const a of this.items) URL.revokeObjectURL(a.preview);
    this.items = [];
    this.onChange();
  }

  private async upload(item: Attachment, file: File): Promise<void> {
    try {
      const prepared = await prepare(file);
      if (prepared.size > MAX_IMAGE_BYTES) throw new ApiError(413, "image_too_large", "This image is larger than 3.75 MB, even scaled down.");
      item.uploaded = await this.api.uploadImage(prepared);
      item.state = "ready";
    } catch (error) {
      item.state = "failed";
      item.error = error instanceof Error ? error.message : "The image could not be uploaded.";
    }
    if (this.items.includes(item)) this.onChange();
  }
}

/**
 * JPEGs are always redrawn (orientation applied, metadata gone); other formats only when too large,
 * so a GIF keeps its animation and a PNG its exact pixels.
 */
async function prepare(file: File): Promise<Blob> {
  const needsRedraw = file.type === "image/jpeg" || (file.type !== "image/gif" && file.size > MAX_IMAGE_BYTES);
  if (!needsRedraw) return file;
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch {
    return file; // the server says what is wrong with it
  }
  const scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
  const width = Math.max(1, Math.round(bitmap.width * scale));
  const height = Math.max(1, Math.round(bitmap.height * scale));
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  canvas.getContext("2d")?.drawImage(bitmap, 0, 0, width, height);
  bitmap.close();
  const type = "image/jpeg";
  const blob = await new Promise<Blob | null>((resolve) => canvas.toBlob(resolve, type, 0.88));
  return blob ?? file;
}
