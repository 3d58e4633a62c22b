/**
 * Operator endpoints: the admin token, with brute force stopped per client address. Only failed
 * attempts count (RATE_LIMIT_AUTH_FAIL, a few a minute), so an operator's sign-in backend can mint
 * as many tokens as it needs. An address that went over the limit is locked out for a minute,
 * valid token or not: otherwise a guess that happened to be right would still get through and tell
 * the guesser so.
 *
 * Rate Limiting bindings cannot be read without counting, so the lockout itself is kept in this
 * isolate and in the data centre's cache (the Cache API; best effort, and a no-op on workers.dev).
 */
import { requireAdmin } from "./auth.ts";
import { HttpError } from "./errors.ts";
import { sha256Hex } from "./crypto.ts";
import { clientIp } from "./rate-limit.ts";

export const LOCKOUT_SECONDS = 60;

const lockedUntil = new Map<string, number>();

const tooMany = () =>
  new HttpError(429, "rate_limited", "Too many failed operator sign-ins from this address. Wait a minute and try again.", { "retry-after": String(LOCKOUT_SECONDS) });

async function lockoutKey(ip: string): Promise<Request> {
  return new Request(`https://soulprint-lockout.internal/admin/${await sha256Hex(`admin-lockout:${ip}`)}`);
}

async function isLockedOut(ip: string, now: number): Promise<boolean> {
  const until = lockedUntil.get(ip);
  if (until !== undefined) {
    if (until > now) return true;
    lockedUntil.delete(ip);
  }
  const cached = await caches.default.match(await lockoutKey(ip)).catch(() => undefined);
  return cached !== undefined;
}

async function lockOut(ip: string, now: number): Promise<void> {
  if (lockedUntil.size > 10_000) lockedUntil.clear();
  lockedUntil.set(ip, now + LOCKOUT_SECONDS * 1000);
  const marker = new Response("locked", { headers: { "cache-control": `max-age=${LOCKOUT_SECONDS}` } });
  await caches.default.put(await lockoutKey(ip), marker).catch(() => undefined);
}

/** The admin check every operator endpoint runs: 401 for a wrong token, 429 after a few from one address. */
export async function requireOperator(request: Request, env: Env, now = Date.now()): Promise<void> {
  const ip = clientIp(request);
  if (await isLockedOut(ip, now)) throw tooMany();
  try {
    requireAdmin(request, env);
  } catch (error) {
    if (!(error instanceof HttpError) || error.status !== 401 || !env.RATE_LIMIT_AUTH_FAIL) throw error;
    const { success } = await env.RATE_LIMIT_AUTH_FAIL.limit({ key: `admin-fail:${ip}` });
    if (success) throw error;
    await lockOut(ip, now);
    throw tooMany();
  }
}
