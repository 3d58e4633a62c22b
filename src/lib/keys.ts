/**
 * Keys derived from the Worker's secrets, one per purpose. Each purpose has its own label, so a
 * value computed for one (a log hash, a ticket, a gateway token) can never stand in for another,
 * and no new secret has to be set to add one.
 */
import { requireSecret } from "./config.ts";
import { hmacSha256Hex } from "./crypto.ts";

export type KeyPurpose = "log-hash" | "ws-ticket" | "gateway-token";

/** Which secret each purpose is derived from. */
const ROOT: Record<KeyPurpose, "AUTH_SECRET" | "ENCRYPTION_KEY"> = {
  "log-hash": "AUTH_SECRET",
  "ws-ticket": "AUTH_SECRET",
  "gateway-token": "ENCRYPTION_KEY",
};

/** A hex key for `purpose`: HMAC-SHA256(root secret, "soulprint:key:" + purpose). */
export function derivedKey(env: Env, purpose: KeyPurpose): Promise<string> {
  return hmacSha256Hex(requireSecret(env, ROOT[purpose]), `soulprint:key:${purpose}`);
}
