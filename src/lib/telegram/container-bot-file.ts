/**
 * File downloads for the user's container (issue 18): OpenClaw's Telegram channel calls getFile
 * through the Bot API route, then downloads `<apiRoot>/file/bot<token>/<file_path>`, which needs
 * the bot's token, and the token stays in the Worker. So the container asks
 * `GET /api/container/telegram/file/<file_path>` with its gateway token instead, and the Worker
 * downloads the file with the user's claimed bot.
 *
 * - Only files of that bot: the download is made with its token, and Telegram's file paths are per
 *   bot, so another user's path is simply not found.
 * - The path is checked before it goes into a URL: Telegram's paths are a folder and a file name
 *   (`photos/file_3.jpg`); no `.`/`..` segment, no escape, nothing that could climb out of
 *   `/file/bot<token>/` to another method or another bot.
 * - At most MAX_CONTAINER_FILE_BYTES (refused by its declared size first, and cut off while read).
 * - The token is never in an answer or a log line: every failure is a fresh error with a fixed text.
 */
import { HttpError, UnreachableError, UpstreamError } from "../errors.ts";
import { readBytes } from "../http.ts";

/**
 * 10 MiB: OpenClaw's own cap for an image handed to its model (DEFAULT_INPUT_IMAGE_MAX_BYTES), and
 * the container's `channels.telegram.mediaMaxMb`, so OpenClaw skips bigger files before asking.
 * Telegram lets bots download up to 20 MB; nothing the container does with a file needs more.
 */
export const MAX_CONTAINER_FILE_BYTES = 10 * 1024 * 1024;

const DOWNLOAD_TIMEOUT_MS = 60_000;

/** One path segment as Telegram names them: starts with a letter, digit, `_` or `-`, so never `.` or `..`. */
const SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$/;

/** The file's path, decoded and checked; 400 `invalid_file_path` for anything else. */
export function checkFilePath(encoded: string): string {
  let segments: string[];
  try {
    segments = encoded.split("/").map((s) => decodeURIComponent(s));
  } catch {
    throw invalidPath();
  }
  if (segments.length === 0 || segments.length > 4 || !segments.every((s) => SEGMENT.test(s))) throw invalidPath();
  return segments.join("/");
}

function invalidPath(): HttpError {
  return new HttpError(400, "invalid_file_path", "Bad Request: a file path is what getFile returned, like photos/file_3.jpg.");
}

export function fileTooLarge(): HttpError {
  return new HttpError(413, "file_too_large", `Bad Request: file is too big (the container may download at most ${MAX_CONTAINER_FILE_BYTES / 1024 / 1024} MiB).`);
}

export interface DownloadedFile {
  bytes: Uint8Array;
  contentType: string;
}

/** Downloads a checked path with the bot's token; Telegram's 404 stays a 404, other failures are upstream errors. */
export async function downloadBotFile(apiRoot: string, token: string, path: string, fetcher: typeof fetch = fetch): Promise<DownloadedFile> {
  const url = `${apiRoot.replace(/\/+$/, "")}/file/bot${token}/${path.split("/").map(encodeURIComponent).join("/")}`;
  let response: Response;
  try {
    response = await fetcher(url, { signal: AbortSignal.timeout(DOWNLOAD_TIMEOUT_MS) });
  } catch (error) {
    // A fresh error: the runtime's own may quote the URL, and the URL holds the token.
    const timedOut = error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError");
    throw new UnreachableError("telegram", "Telegram could not be reached for the file.", timedOut);
  }
  if (!response.ok) {
    await response.body?.cancel();
    if (response.status === 404 || response.status === 400) throw new HttpError(404, "file_not_found", "Not Found: no such file for this bot.");
    throw new UpstreamError("telegram", response.status, "download_failed", `The file download answered ${response.status}.`);
  }
  const bytes = await readBytes(response, MAX_CONTAINER_FILE_BYTES, fileTooLarge);
  return { bytes, contentType: response.headers.get("content-type") ?? "application/octet-stream" };
}
