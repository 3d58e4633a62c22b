/**
 * Small helpers of the Fly stand-in (dev/fly-standin.ts): fresh ids and timestamps in Fly's
 * shapes, the seedable RNG behind fault patterns and IP addresses, and lenient JSON reading.
 */
import { randomBytes } from "node:crypto";

export type Obj = Record<string, unknown>;

/** mulberry32: a small seedable RNG, so a fault pattern can be replayed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const now = () => new Date().toISOString();
export const hex = (bytes: number) => randomBytes(bytes).toString("hex");
const ULID_CHARS = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
export const instanceId = () => Array.from(randomBytes(26), (b) => ULID_CHARS[b % 32]).join("");

/** A body as JSON when it parses, else its first 2000 characters as text (for logs and inspection). */
export function safeJson(raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString("utf8"));
  } catch {
    return raw.toString("utf8").slice(0, 2000);
  }
}

export function pickNumbers(b: Obj, keys: string[]): Partial<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const k of keys) if (typeof b[k] === "number" && Number.isFinite(b[k])) out[k] = b[k] as number;
  return out;
}
