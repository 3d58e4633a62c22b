/**
 * Images people send (Telegram photos, web uploads), judged by their bytes and never by a declared
 * type: the formats Claude reads through Converse (PNG, JPEG, GIF, WebP), recognised by their magic
 * bytes, and the metadata that is cheap to remove (PNG text and EXIF chunks, JPEG EXIF/XMP/IPTC
 * segments and comments), since a phone photo's EXIF block carries where it was taken.
 */

export type ImageFormat = "png" | "jpeg" | "gif" | "webp";

/** Bedrock's per-image limit for Converse image blocks (3.75 MB). */
export const MAX_IMAGE_BYTES = 3_932_160;
/** Images one message may carry. */
export const MAX_IMAGES_PER_MESSAGE = 4;

export const CONTENT_TYPES: Record<ImageFormat, string> = { png: "image/png", jpeg: "image/jpeg", gif: "image/gif", webp: "image/webp" };

/** The format the bytes really are, or null for anything that is not one of the four. */
export function sniffImage(bytes: Uint8Array): ImageFormat | null {
  const starts = (...sig: number[]) => bytes.length >= sig.length && sig.every((b, i) => bytes[i] === b);
  if (starts(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return "png";
  if (starts(0xff, 0xd8, 0xff)) return "jpeg";
  if (starts(0x47, 0x49, 0x46, 0x38)) return "gif";
  if (starts(0x52, 0x49, 0x46, 0x46) && bytes[8] === 0x57 && bytes[9] === 0x45 && bytes[10] === 0x42 && bytes[11] === 0x50) return "webp";
  return null;
}

/** PNG chunks that only describe the picture (text, EXIF, timestamps): dropped, the image is unchanged. */
const PNG_METADATA = new Set(["tEXt", "zTXt", "iTXt", "eXIf", "tIME"]);

/**
 * The same image without the metadata named above. Anything that does not parse cleanly is
 * returned as it came (stripping is a courtesy; the format check already happened).
 */
export function stripMetadata(bytes: Uint8Array, format: ImageFormat): Uint8Array {
  try {
    if (format === "png") return stripPng(bytes);
    if (format === "jpeg") return stripJpeg(bytes);
  } catch {
    // fall through: keep the original bytes
  }
  return bytes;
}

function stripPng(bytes: Uint8Array): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const keep: Uint8Array[] = [bytes.subarray(0, 8)];
  let removed = false;
  for (let at = 8; at < bytes.length; ) {
    if (at + 12 > bytes.length) return bytes;
    const length = view.getUint32(at);
    const end = at + 12 + length;
    if (end > bytes.length) return bytes;
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    if (PNG_METADATA.has(type)) removed = true;
    else keep.push(bytes.subarray(at, end));
    at = end;
    if (type === "IEND") break;
  }
  return removed ? concat(keep) : bytes;
}

/** APP1 (EXIF, XMP), APP13 (IPTC) and COM segments, before the image data starts. */
function stripJpeg(bytes: Uint8Array): Uint8Array {
  const keep: Uint8Array[] = [bytes.subarray(0, 2)];
  let removed = false;
  let at = 2;
  while (at + 4 <= bytes.length) {
    if (bytes[at] !== 0xff) return bytes;
    const marker = bytes[at + 1]!;
    // Start of scan: the entropy-coded data and everything after it are kept as they are.
    if (marker === 0xda) break;
    const length = (bytes[at + 2]! << 8) | bytes[at + 3]!;
    const end = at + 2 + length;
    if (length < 2 || end > bytes.length) return bytes;
    if (marker === 0xe1 || marker === 0xed || marker === 0xfe) removed = true;
    else keep.push(bytes.subarray(at, end));
    at = end;
  }
  if (!removed) return bytes;
  keep.push(bytes.subarray(at));
  return concat(keep);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
