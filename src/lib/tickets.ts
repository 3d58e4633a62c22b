/**
 * One-use, 60-second WebSocket tickets: browsers cannot set headers on a WebSocket, so they trade
 * their bearer token for a ticket first. The ticket names its user (so the Worker can route it) and
 * only its hash is stored (a leaked database row cannot be replayed).
 */
import { randomToken, sha256Hex } from "./crypto.ts";
import { USER_ID_PATTERN } from "./auth.ts";
import type { Sql } from "./sql.ts";

export const TICKET_TTL_SECONDS = 60;

export const TICKETS_SCHEMA = `CREATE TABLE IF NOT EXISTS tickets (
  hash TEXT PRIMARY KEY, expires_at INTEGER NOT NULL
)`;

export async function issueTicket(sql: Sql, userId: string, now = Date.now()): Promise<{ ticket: string; expiresIn: number }> {
  sql.run("DELETE FROM tickets WHERE expires_at <= ?", now);
  const secret = randomToken(24);
  sql.run("INSERT INTO tickets (hash, expires_at) VALUES (?, ?)", await sha256Hex(secret), now + TICKET_TTL_SECONDS * 1000);
  return { ticket: `${userId}.${secret}`, expiresIn: TICKET_TTL_SECONDS };
}

/** The user a ticket claims to be for, or null if it is not shaped like one. */
export function ticketUserId(ticket: string): string | null {
  const [userId, secret, extra] = ticket.split(".");
  return userId && secret && extra === undefined && USER_ID_PATTERN.test(userId) && secret.length <= 64 ? userId : null;
}

/** Consumes a ticket: true once, false for unknown, expired or already used tickets. */
export async function redeemTicket(sql: Sql, ticket: string, now = Date.now()): Promise<boolean> {
  const secret = ticket.split(".")[1] ?? "";
  return sql.run("DELETE FROM tickets WHERE hash = ? AND expires_at > ?", await sha256Hex(secret), now) === 1;
}
