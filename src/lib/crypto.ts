/** Small Web Crypto helpers: hashing, random tokens, constant-time comparison, AES-GCM secrets. */
import { InvariantError } from "./errors.ts";

const encoder = new TextEncoder();

export function toHex(bytes: ArrayBuffer | Uint8Array): string {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let out = "";
  for (const b of view) out += b.toString(16).padStart(2, "0");
  return out;
}

export async function sha256Hex(data: string | Uint8Array): Promise<string> {
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  return toHex(await crypto.subtle.digest("SHA-256", bytes));
}

async function hmacSha256(key: string, message: string): Promise<ArrayBuffer> {
  const cryptoKey = await crypto.subtle.importKey("raw", encoder.encode(key), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return crypto.subtle.sign("HMAC", cryptoKey, encoder.encode(message));
}

export async function hmacSha256Hex(key: string, message: string): Promise<string> {
  return toHex(await hmacSha256(key, message));
}

/** HMAC-SHA256 as unpadded base64url (43 characters): compact inside tokens and URLs. */
export async function hmacSha256Base64Url(key: string, message: string): Promise<string> {
  return toBase64Url(new Uint8Array(await hmacSha256(key, message)));
}

/** A random URL-safe token of `bytes` random bytes. */
export function randomToken(bytes = 24): string {
  return toBase64Url(crypto.getRandomValues(new Uint8Array(bytes)));
}

function toBase64Url(bytes: Uint8Array): string {
  return toBase64(bytes).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/**
 * Compares two strings in time that does not depend on where they differ (workerd's
 * `crypto.subtle.timingSafeEqual`). Different lengths are compared against themselves first so the
 * length check does not short-circuit either.
 */
export function timingSafeEqualStr(a: string, b: string): boolean {
  const left = encoder.encode(a);
  const right = encoder.encode(b);
  if (left.byteLength !== right.byteLength) {
    crypto.subtle.timingSafeEqual(left, left);
    return false;
  }
  return crypto.subtle.timingSafeEqual(left, right);
}

async function aesKey(keyMaterial: string): Promise<CryptoKey> {
  // Any secret string works as key material: SHA-256 turns it into a 256-bit AES key.
  const digest = await crypto.subtle.digest("SHA-256", encoder.encode(`soulprint:aes:${keyMaterial}`));
  return crypto.subtle.importKey("raw", digest, "AES-GCM", false, ["encrypt", "decrypt"]);
}

/** AES-256-GCM; the result is `v1.<iv b64>.<ciphertext b64>`. */
export async function encryptSecret(keyMaterial: string, plaintext: string): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = await crypto.subtle.encrypt({ name: "AES-GCM", iv }, await aesKey(keyMaterial), encoder.encode(plaintext));
  return `v1.${toBase64(iv)}.${toBase64(new Uint8Array(sealed))}`;
}

export async function decryptSecret(keyMaterial: string, sealed: string): Promise<string> {
  const [version, iv, data] = sealed.split(".");
  if (version !== "v1" || !iv || !data) throw new InvariantError("Unknown sealed secret format");
  const plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: fromBase64(iv) }, await aesKey(keyMaterial), fromBase64(data));
  return new TextDecoder().decode(plain);
}

export function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

export function fromBase64(b64: string): Uint8Array<ArrayBuffer> {
  const binary = atob(b64);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

/** base64 of a string's UTF-8 bytes (emoji and any script survive; `btoa` alone would throw). */
export function utf8ToBase64(text: string): string {
  return toBase64(encoder.encode(text));
}
