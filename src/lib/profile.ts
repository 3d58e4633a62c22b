/** The user's profile row: identity, tier and chat mode. */
import { HttpError } from "./errors.ts";
import type { Identity } from "./auth.ts";
import type { Sql } from "./sql.ts";

export type Tier = "free" | "paid";
export type ChatMode = "auto" | "direct";

export interface Profile {
  userId: string;
  email: string;
  tier: Tier;
  chatMode: ChatMode;
  createdAt: number;
}

export const PROFILE_SCHEMA = `CREATE TABLE IF NOT EXISTS profile (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  user_id TEXT NOT NULL, email TEXT NOT NULL,
  tier TEXT NOT NULL DEFAULT 'free', chat_mode TEXT NOT NULL DEFAULT 'auto',
  created_at INTEGER NOT NULL
)`;

interface ProfileRow {
  user_id: string;
  email: string;
  tier: Tier;
  chat_mode: ChatMode;
  created_at: number;
}

export function readProfile(sql: Sql): Profile | null {
  const row = sql.one<ProfileRow>("SELECT user_id, email, tier, chat_mode, created_at FROM profile WHERE id = 1");
  return row ? { userId: row.user_id, email: row.email, tier: row.tier, chatMode: row.chat_mode, createdAt: row.created_at } : null;
}

/**
 * Returns the profile, creating it on first contact. `created` tells the caller to seed the starter
 * workspace. An object is named by its userId, so a different userId here means a routing bug.
 */
export function ensureProfile(sql: Sql, who: Identity, now = Date.now()): { profile: Profile; created: boolean } {
  const existing = readProfile(sql);
  if (existing) {
    if (existing.userId !== who.userId) throw new HttpError(500, "identity_mismatch", "This request reached the wrong user object.");
    return { profile: existing, created: false };
  }
  sql.run("INSERT INTO profile (id, user_id, email, tier, chat_mode, created_at) VALUES (1, ?, ?, 'free', 'auto', ?)", who.userId, who.email, now);
  return { profile: readProfile(sql)!, created: true };
}

export function setTier(sql: Sql, tier: unknown): Tier {
  if (tier !== "free" && tier !== "paid") throw new HttpError(400, "invalid_tier", 'tier must be "free" or "paid".');
  sql.run("UPDATE profile SET tier = ? WHERE id = 1", tier);
  return tier;
}

export function setChatMode(sql: Sql, mode: unknown): ChatMode {
  if (mode !== "auto" && mode !== "direct") throw new HttpError(400, "invalid_chat_mode", 'chatMode must be "auto" or "direct".');
  sql.run("UPDATE profile SET chat_mode = ? WHERE id = 1", mode);
  return mode;
}
