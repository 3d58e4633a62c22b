/**
 * Webhook secrets the Worker can check on its own. A secret is a random part plus an HMAC of the
 * user id and that part (keyed with ENCRYPTION_KEY), so a delivery with a forged secret is refused
 * at the edge without waking, or creating, anyone's object: the webhook is the one route that
 * takes a user id from an unauthenticated caller. The object then compares the whole secret with
 * the one it stored, so a released bot's old secret stays refused.
 *
 * Both parts use only `[A-Za-z0-9_-]`, as Telegram requires of `secret_token` (1-256 characters).
 */
import { hmacSha256Hex, randomToken, timingSafeEqualStr } from "../crypto.ts";

const RANDOM_CHARS = 32; // 24 random bytes, base64url
const MAC_CHARS = 64;

export async function newWebhookSecret(key: string, userId: string): Promise<string> {
  const random = randomToken(24);
  return `${random}${await mac(key, userId, random)}`;
}

/** Whether `secret` was made by `newWebhookSecret` for this user (constant time). */
export async function isWebhookSecretFor(key: string, userId: string, secret: string): Promise<boolean> {
  if (secret.length !== RANDOM_CHARS + MAC_CHARS) return false;
  const random = secret.slice(0, RANDOM_CHARS);
  return timingSafeEqualStr(secret.slice(RANDOM_CHARS), await mac(key, userId, random));
}

function mac(key: string, userId: string, random: string): Promise<string> {
  return hmacSha256Hex(key, `telegram-webhook:${userId}:${random}`);
}
