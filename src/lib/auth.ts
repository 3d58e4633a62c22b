/**
 * Who is calling: our own HS256 user tokens (jose, algorithm pinned, `aud` and `exp` checked), an
 * optional external JWKS issuer, the `Authorization: Email` header only where explicitly
 * allowed (local development), and the operator's admin token compared in constant time.
 *
 * jose instead of hand-rolled JWT code: it rejects `alg: none`, algorithm confusion and malformed
 * tokens correctly, and its JWKS fetcher caches keys and rate-limits refreshes.
 */
import { SignJWT, jwtVerify, createRemoteJWKSet, errors as joseErrors, type JWTPayload } from "jose";
import { HttpError } from "./errors.ts";
import { hmacSha256Hex, timingSafeEqualStr } from "./crypto.ts";
import { requireSecret } from "./config.ts";
import { noteUser } from "./request-log.ts";

export const TOKEN_AUDIENCE = "soulprint";
export const DEFAULT_TOKEN_TTL_SECONDS = 30 * 24 * 3600;
export const MAX_TOKEN_TTL_SECONDS = 365 * 24 * 3600;

export interface Identity {
  userId: string;
  email: string;
}

/** A pragmatic email check: one @, no spaces, a dot in the domain, at most 254 chars. */
const EMAIL_PATTERN = /^[^\s@<>()",;:\\]+@[^\s@<>()",;:\\]+\.[^\s@<>()",;:\\]+$/;

export function normalizeEmail(raw: unknown): string {
  const email = typeof raw === "string" ? raw.trim().toLowerCase() : "";
  if (email.length === 0 || email.length > 254 || !EMAIL_PATTERN.test(email)) {
    throw new HttpError(400, "invalid_email", "Give a valid email address, like someone@example.com.");
  }
  return email;
}

/** userId = first 20 hex chars of HMAC-SHA256(USER_ID_SALT, "user:" + email). */
export async function deriveUserId(salt: string, email: string): Promise<string> {
  return (await hmacSha256Hex(salt, `user:${normalizeEmail(email)}`)).slice(0, 20);
}

export const USER_ID_PATTERN = /^[0-9a-f]{20}$/;

export async function mintUserToken(env: Env, rawEmail: unknown, ttlSeconds = DEFAULT_TOKEN_TTL_SECONDS): Promise<{ token: string; userId: string; expiresAt: string }> {
  const email = normalizeEmail(rawEmail);
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 60 || ttlSeconds > MAX_TOKEN_TTL_SECONDS) {
    throw new HttpError(400, "invalid_ttl", `ttlSeconds must be a whole number from 60 to ${MAX_TOKEN_TTL_SECONDS}.`);
  }
  const userId = await deriveUserId(requireSecret(env, "USER_ID_SALT"), email);
  const now = Math.floor(Date.now() / 1000);
  const exp = now + ttlSeconds;
  const token = await new SignJWT({ email })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(userId)
    .setAudience(TOKEN_AUDIENCE)
    .setIssuedAt(now)
    .setExpirationTime(exp)
    .sign(new TextEncoder().encode(requireSecret(env, "AUTH_SECRET")));
  return { token, userId, expiresAt: new Date(exp * 1000).toISOString() };
}

const unauthorized = (message: string) => new HttpError(401, "unauthorized", message, { "www-authenticate": 'Bearer realm="soulprint"' });

/** Authenticates a user request from its Authorization header. */
export async function authenticate(request: Request, env: Env): Promise<Identity> {
  const header = request.headers.get("authorization") ?? "";
  const who = await authenticateHeader(header, env);
  noteUser(request, who.userId);
  return who;
}

export async function authenticateHeader(header: string, env: Env): Promise<Identity> {
  const [scheme, ...rest] = header.trim().split(/\s+/);
  const credential = rest.join(" ");
  if (!scheme || !credential) throw unauthorized("Sign in: send Authorization: Bearer <token>.");
  if (scheme.toLowerCase() === "email") {
    if (env.ALLOW_EMAIL_AUTH !== "true") {
      throw unauthorized("Authorization: Email is only accepted in local development. Use Authorization: Bearer <token>.");
    }
    const email = normalizeEmail(credential);
    return { userId: await deriveUserId(requireSecret(env, "USER_ID_SALT"), email), email };
  }
  if (scheme.toLowerCase() !== "bearer") throw unauthorized("Unsupported authorization scheme. Use Authorization: Bearer <token>.");
  return verifyUserToken(credential, env);
}

export async function verifyUserToken(token: string, env: Env): Promise<Identity> {
  let payload: JWTPayload;
  try {
    payload = await verifyOwnToken(token, env);
  } catch (ownError) {
    if (!env.AUTH_JWKS_URL) throw describeJoseError(ownError);
    return externalIdentity(token, env);
  }
  const email = normalizeEmailClaim(payload.email);
  if (typeof payload.sub !== "string" || !USER_ID_PATTERN.test(payload.sub)) throw unauthorized("The token has no valid subject. Ask for a new token.");
  // The subject must be the keyed id of the email: a token signed with this key can't be pointed at
  // someone else's object by editing one claim, and a rotated salt invalidates old tokens.
  const expected = await deriveUserId(requireSecret(env, "USER_ID_SALT"), email);
  if (!timingSafeEqualStr(payload.sub, expected)) throw unauthorized("The token's subject does not match its email. Ask for a new token.");
  return { userId: payload.sub, email };
}

async function verifyOwnToken(token: string, env: Env): Promise<JWTPayload> {
  const key = new TextEncoder().encode(requireSecret(env, "AUTH_SECRET"));
  const { payload } = await jwtVerify(token, key, {
    algorithms: ["HS256"],
    audience: TOKEN_AUDIENCE,
    requiredClaims: ["sub", "exp", "iat", "aud"],
  });
  return payload;
}

// jose caches fetched keys inside the JWKS function; keep one per URL for the isolate's lifetime.
const remoteKeySets = new Map<string, ReturnType<typeof createRemoteJWKSet>>();

function remoteKeySet(url: string): ReturnType<typeof createRemoteJWKSet> {
  let keySet = remoteKeySets.get(url);
  if (!keySet) {
    if (!URL.canParse(url)) throw new HttpError(503, "not_configured", "AUTH_JWKS_URL is not a valid URL. An operator must fix it.");
    keySet = createRemoteJWKSet(new URL(url));
    remoteKeySets.set(url, keySet);
  }
  return keySet;
}

/** The key lookup jose verifies with: the remote JWKS, or a local set in tests. */
export type KeyLookup = Parameters<typeof jwtVerify>[1];

/**
 * A token from the external identity provider (AUTH_JWKS_URL). Issuer and audience are required
 * settings (without them a token the same provider minted for any other application would sign in),
 * and the email must be verified (`email_verified: true`), since the email names the user.
 */
export async function externalIdentity(token: string, env: Env, keys: KeyLookup = remoteKeySet(env.AUTH_JWKS_URL)): Promise<Identity> {
  const issuer = env.AUTH_ISSUER?.trim();
  const audience = env.AUTH_AUDIENCE?.trim();
  if (!issuer || !audience) {
    throw new HttpError(503, "not_configured", "External sign-in is off: AUTH_JWKS_URL is set without AUTH_ISSUER and AUTH_AUDIENCE. An operator must set both.");
  }
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, keys, { algorithms: ["RS256", "ES256"], issuer, audience, requiredClaims: ["exp", "email", "iss", "aud"] }));
  } catch (error) {
    throw describeJoseError(error);
  }
  if (payload.email_verified !== true) throw unauthorized("The identity provider has not verified this email address. Verify it there, then sign in again.");
  const email = normalizeEmailClaim(payload.email);
  return { userId: await deriveUserId(requireSecret(env, "USER_ID_SALT"), email), email };
}

function normalizeEmailClaim(value: unknown): string {
  try {
    return normalizeEmail(value);
  } catch {
    throw unauthorized("The token carries no valid email claim. Ask for a new token.");
  }
}

function describeJoseError(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  if (error instanceof joseErrors.JWTExpired) return unauthorized("Your token has expired. Sign in again.");
  if (error instanceof joseErrors.JWTClaimValidationFailed) return unauthorized(`The token was rejected (${error.claim}). Ask for a new token.`);
  return unauthorized("The token is not valid. Sign in again or ask for a new token.");
}

/** Operator endpoints: the admin token, compared in constant time. */
export function requireAdmin(request: Request, env: Env): void {
  const adminToken = requireSecret(env, "ADMIN_TOKEN");
  const header = request.headers.get("authorization") ?? "";
  const match = /^Bearer\s+(.+)$/i.exec(header.trim());
  if (!match?.[1] || !timingSafeEqualStr(match[1], adminToken)) {
    throw new HttpError(401, "unauthorized", "This endpoint needs the operator token: Authorization: Bearer <ADMIN_TOKEN>.");
  }
}
