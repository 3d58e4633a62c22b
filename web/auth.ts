/**
 * Who the page is signed in as, and the Authorization header that says so.
 *
 * - A bearer token (JWT) arrives by a sign-in link `/#token=<jwt>` or is pasted; it is kept in
 *   localStorage and removed from the URL at once, so it does not linger in history or get copied.
 * - Under `npm run dev` (`/api/health` says `devAuth: true`) an email address is enough:
 *   `Authorization: Email someone@example.com`.
 */

export type Credentials = { kind: "bearer"; token: string } | { kind: "email"; email: string };

const STORAGE_KEY = "soulprint.auth";

/** localStorage can throw (disabled storage, some private modes): fall back to memory. */
let memoryFallback: string | null = null;

function readStored(): string | null {
  try {
    return localStorage.getItem(STORAGE_KEY);
  } catch {
    return memoryFallback;
  }
}

function writeStored(value: string | null): void {
  memoryFallback = value;
  try {
    if (value === null) localStorage.removeItem(STORAGE_KEY);
    else localStorage.setItem(STORAGE_KEY, value);
  } catch {
    /* memory only */
  }
}

export function loadCredentials(): Credentials | null {
  const raw = readStored();
  if (!raw) return null;
  try {
    const v = JSON.parse(raw) as Partial<Credentials> & { token?: unknown; email?: unknown };
    if (v.kind === "bearer" && typeof v.token === "string" && v.token) return { kind: "bearer", token: v.token };
    if (v.kind === "email" && typeof v.email === "string" && v.email) return { kind: "email", email: v.email };
  } catch {
    /* corrupt entry: treat as signed out */
  }
  return null;
}

export function saveCredentials(creds: Credentials): void {
  writeStored(JSON.stringify(creds));
}

export function clearCredentials(): void {
  writeStored(null);
}

/** The value of the Authorization header for these credentials. */
export function authHeader(creds: Credentials): string {
  return creds.kind === "bearer" ? `Bearer ${creds.token}` : `Email ${creds.email}`;
}

/**
 * Takes a token from a sign-in link (`#token=...`), then strips it from the address bar
 * (history.replaceState, so Back does not bring it back). Returns null when there is none.
 */
export function takeTokenFromUrl(loc: Location = location, hist: History = history): string | null {
  if (!loc.hash.includes("token=")) return null;
  const params = new URLSearchParams(loc.hash.slice(1));
  const token = params.get("token")?.trim() || null;
  params.delete("token");
  const rest = params.toString();
  hist.replaceState(hist.state, "", loc.pathname + loc.search + (rest ? `#${rest}` : ""));
  return token;
}

/** Accepts what people paste: the token alone, `Bearer <token>`, or a whole sign-in link. */
export function normalizePastedToken(input: string): string | null {
  let s = input.trim();
  const hashAt = s.indexOf("#token=");
  if (hashAt >= 0) s = new URLSearchParams(s.slice(hashAt + 1)).get("token") ?? "";
  s = s.replace(/^Bearer\s+/i, "").trim();
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(s) ? s : null;
}

export interface TokenClaims {
  email?: string;
  sub?: string;
  exp?: number;
}

/**
 * Reads a JWT's claims without verifying it (the server does that): only used to greet the user
 * and to notice an expired sign-in link before making a doomed request.
 */
export function decodeJwt(token: string): TokenClaims | null {
  const part = token.split(".")[1];
  if (!part) return null;
  try {
    const b64 = part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "=");
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
    return {
      email: typeof claims.email === "string" ? claims.email : undefined,
      sub: typeof claims.sub === "string" ? claims.sub : undefined,
      exp: typeof claims.exp === "number" ? claims.exp : undefined,
    };
  } catch {
    return null;
  }
}

/** True when the token carries an `exp` in the past (with a little leeway for clock skew). */
export function isExpired(token: string, nowMs = Date.now()): boolean {
  const exp = decodeJwt(token)?.exp;
  return exp !== undefined && exp * 1000 < nowMs - 30_000;
}

export function isEmail(s: string): boolean {
  return /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(s.trim());
}
