/**
 * A photo the owner sent on Telegram, fetched and kept: `getFile` for its path, then the download
 * from `<TELEGRAM_API_ROOT>/file/bot<token>/<file_path>` (bots may download up to 20 MB; ours stops
 * at Bedrock's 3.75 MB per image), checked and stored like a web upload. The image id comes from
 * the update id, so a retried update overwrites the same object instead of leaving a second one.
 */
import type { Bot } from "grammy/web";
import type { Config } from "../config.ts";
import { HttpError, UpstreamError } from "../errors.ts";
import { readBytes } from "../http.ts";
import { imageTooLarge, storeImage } from "../images/user-images.ts";
import { MAX_IMAGE_BYTES } from "../images/image-bytes.ts";
import { GrammyError } from "./bot.ts";
import type { PhotoChoice } from "./update-route.ts";
import type { StoredImage } from "../chat/history.ts";

const DOWNLOAD_TIMEOUT_MS = 30_000;

export type PhotoOutcome = { kind: "stored"; imageId: string; image: StoredImage } | { kind: "too_large" } | { kind: "unreadable" };

export interface PhotoHost {
  config: Config;
  bucket: R2Bucket;
  userId: string;
  fetch?: typeof fetch;
}

export async function receivePhoto(host: PhotoHost, bot: Bot, photo: PhotoChoice, updateId: number): Promise<PhotoOutcome> {
  if ("tooLarge" in photo) return { kind: "too_large" };
  let path: string | undefined;
  try {
    const file = await bot.api.getFile(photo.fileId);
    if ((file.file_size ?? 0) > MAX_IMAGE_BYTES) return { kind: "too_large" };
    path = file.file_path;
  } catch (error) {
    // 400 "file is too big" (over 20 MB) or a file that is gone: nothing a retry would change.
    if (error instanceof GrammyError && error.error_code === 400) return /too big/i.test(error.description) ? { kind: "too_large" } : { kind: "unreadable" };
    throw error;
  }
  if (!path) return { kind: "unreadable" };
  const url = `${host.config.telegramApiRoot}/file/bot${bot.token}/${path.split("/").map(encodeURIComponent).join("/")}`;
  const response = await (host.fetch ?? fetch)(url, { signal: AbortSignal.timeout(DOWNLOAD_TIMEOUT_MS) });
  if (!response.ok) {
    await response.body?.cancel();
    // Never the URL: it holds the bot token.
    throw new UpstreamError("telegram", response.status, "download_failed", `The photo download answered ${response.status}.`);
  }
  try {
    const bytes = await readBytes(response, MAX_IMAGE_BYTES, imageTooLarge);
    const stored = await storeImage(host.bucket, host.userId, bytes, { id: `img_tg_${updateId}`, alt: "photo sent on Telegram" });
    return { kind: "stored", imageId: stored.id, image: { url: stored.url, alt: stored.alt } };
  } catch (error) {
    if (error instanceof HttpError && error.status === 413) return { kind: "too_large" };
    if (error instanceof HttpError && error.status < 500) return { kind: "unreadable" };
    throw error;
  }
}
