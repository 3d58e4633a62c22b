/**
 * One-use, 60-second WebSocket tickets: browsers cannot set headers on a WebSocket, so they trade
 * their bearer token for a ticket first.
 *
 * `<userId>.<expiresAt ms>.<nonce>.<base64url HMAC>`: the Worker checks the HMAC and the expiry
 * before routing (`verifyTicket`), so a made-up ticket never wakes or creates an object; the object
 * then redeems the nonce once (only its hash is stored, so a leaked row cannot be replayed).
 */
import { hmacSha256Base64Url, randomToken, sha256Hex, timingSafeEqualStr } from "./crypto.ts";
import { derivedKey } from "./keys.ts";
import type { Sql } from "./sql.ts";

export const TICKET_TTL_SECONDS = 60;

const TICKET_PATTERN = /^([0-9a-f]{20})\.([0-9]{13})\.([A-Za-z0-9_-]{24})\.([A-Za-z0-9_-]{43})$/;

export const TICKETS_SCHEMA = `CREATE TABLE IF NOT EXISTS tickets (
  hash TEXT PRIMARY KEY, expires_at INTEGER NOT NULL
)`;

async function sign(env: Env, userId: string, expiresAt: number, nonce: string): Promise<string> {
  return hmacSha256Base64Url(await derivedKey(env, "ws-ticket"), `${userId}.${expiresAt}.${nonce}`);
}

export async function issueTicket(sql: Sql, env: Env, userId: string, now = Date.now()): Promise<{ ticket: string; expiresIn: number }> {
  sql.run("DELETE FROM tickets WHERE expires_at <= ?", now);
  const nonce = randomToken(18);
  const expiresAt = now + TICKET_TTL_SECONDS * 1000;
  sql.run("INSERT INTO tickets (hash, expires_at) VALUES (?, ?)", await sha256Hex(nonce), expiresAt);
  return { ticket: `${userId}.${expiresAt}.${nonce}.${await sign(env, userId, expiresAt, nonce)}`, expiresIn: TICKET_TTL_SECONDS };
}

/** The user a ticket was issued for, when its HMAC is right and it has not expired; else null. */
export async function verifyTicket(env: Env, ticket: string, now = Date.now()): Promise<string | null> {
  const match = TICKET_PATTERN.exec(ticket);
  if (!match) return null;
  const [, userId, rawExpiry, nonce, signature] = match as unknown as [string, string, string, string, string];
  const expiresAt = Number(rawExpiry);
  if (expiresAt <= now) return null;
  return timingSafeEqualStr(signature, await sign(env, userId, expiresAt, nonce)) ? userId : null;
}

/** Consumes a ticket: true once, false for unknown, expired or already used tickets. */
export async function redeemTicket(sql: Sql, ticket: string, now = Date.now()): Promise<boolean> {
  const nonce = TICKET_PATTERN.exec(ticket)?.[3] ?? "";
  return sql.run("DELETE FROM tickets WHERE hash = ? AND expires_at > ?", await sha256Hex(nonce), now) === 1;
}
