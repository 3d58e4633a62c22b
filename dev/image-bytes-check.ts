/**
 * Image checks the Bedrock stand-in's rules share (Converse and Claude's Messages body). Kept apart
 * from src/lib/images on purpose: the stand-in judges our code and must not borrow it.
 */

export const IMAGE_FORMATS = ["png", "jpeg", "gif", "webp"] as const;
export type ImageFormat = (typeof IMAGE_FORMATS)[number];

/** The format the magic bytes say, whatever the request claims. */
export function sniffImage(bytes: Uint8Array): ImageFormat | undefined {
  const starts = (...sig: number[]) => sig.every((b, i) => bytes[i] === b);
  if (starts(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return "png";
  if (starts(0xff, 0xd8, 0xff)) return "jpeg";
  if (starts(0x47, 0x49, 0x46, 0x38)) return "gif";
  if (starts(0x52, 0x49, 0x46, 0x46) && bytes[8] === 0x57 && bytes[9] === 0x45 && bytes[10] === 0x42 && bytes[11] === 0x50) return "webp";
  return undefined;
}

/** Strict base64 (as the JSON wire carries image bytes); undefined when it is not. */
export function decodeBase64(value: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(value) || value.length % 4 !== 0) return undefined;
  const raw = atob(value);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes;
}
