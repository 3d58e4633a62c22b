/**
 * The container's one credential, GATEWAY_TOKEN (API.md, "The user's container"):
 * `gw1.<userId>.<epoch>.<base64url HMAC-SHA256>`, keyed by a key derived from ENCRYPTION_KEY.
 *
 * The Worker verifies the HMAC before it routes (`authenticateContainer`), so a forged or
 * another-user's token never creates or wakes an object. The object then compares the token with
 * the one it issued (`FlyService.acceptsGatewayToken`): issuing a token with a new epoch revokes
 * the old one, although the old one's HMAC is still valid.
 *
 * Every `/api/container/*` route starts with `const grant = await authenticateContainer(request, env)`
 * and hands `grant` to the object, which checks it with `acceptsGatewayToken(grant.token)`.
 */
import type { IRequest } from "itty-router";
import { HttpError, InvariantError } from "./errors.ts";
import { derivedKey } from "./keys.ts";
import { hmacSha256Base64Url, timingSafeEqualStr } from "./crypto.ts";
import { USER_ID_PATTERN } from "./auth.ts";
import { noteUser } from "./request-log.ts";
import { clientIp, enforceLimit } from "./rate-limit.ts";

const PREFIX = "gw1";
const TOKEN_PATTERN = /^gw1\.([0-9a-f]{20})\.([0-9]{1,16})\.([A-Za-z0-9_-]{43})$/;

/** What a verified gateway token proves: it was issued for `userId` (which epoch is the object's business). */
export interface GatewayGrant {
  userId: string;
  epoch: number;
  token: string;
}

async function mac(env: Env, userId: string, epoch: number): Promise<string> {
  return hmacSha256Base64Url(await derivedKey(env, "gateway-token"), `${PREFIX}.${userId}.${epoch}`);
}

/** Issues the token for one user and epoch (the object picks the epoch and stores the token). */
export async function mintGatewayToken(env: Env, userId: string, epoch: number): Promise<string> {
  if (!USER_ID_PATTERN.test(userId) || !Number.isSafeInteger(epoch) || epoch < 0) throw new InvariantError("mintGatewayToken: bad user id or epoch");
  return `${PREFIX}.${userId}.${epoch}.${await mac(env, userId, epoch)}`;
}

/** The grant a token carries when its HMAC is right, else null. No object is touched. */
export async function verifyGatewayToken(env: Env, token: string): Promise<GatewayGrant | null> {
  const match = TOKEN_PATTERN.exec(token);
  if (!match) return null;
  const [, userId, rawEpoch, signature] = match as unknown as [string, string, string, string];
  const epoch = Number(rawEpoch);
  if (!Number.isSafeInteger(epoch)) return null;
  return timingSafeEqualStr(signature, await mac(env, userId, epoch)) ? { userId, epoch, token } : null;
}

/** The token as a container sends it: `Authorization: Bearer` or Anthropic's `x-api-key`. */
export function presentedGatewayToken(request: Request): string | null {
  const bearer = /^Bearer\s+(\S+)$/i.exec((request.headers.get("authorization") ?? "").trim())?.[1];
  return bearer ?? request.headers.get("x-api-key")?.trim() ?? null;
}

const refused = (message: string) => new HttpError(401, "unauthorized", message, { "www-authenticate": 'Bearer realm="soulprint-container"' });

/**
 * The check every container route runs first: a per-address rate limit, then the token's HMAC. An
 * `X-SoulPrint-User` header is optional (the token names the user) but must match when sent.
 */
export async function authenticateContainer(request: IRequest, env: Env): Promise<GatewayGrant> {
  await enforceLimit(env.RATE_LIMIT_CONTAINER, `container:${clientIp(request)}`, "container requests from this address");
  const token = presentedGatewayToken(request);
  if (!token) throw refused("Send Authorization: Bearer <GATEWAY_TOKEN>.");
  const grant = await verifyGatewayToken(env, token);
  if (!grant) throw refused("This gateway token is not valid.");
  const named = request.headers.get("x-soulprint-user");
  if (named !== null && !timingSafeEqualStr(named.trim(), grant.userId)) throw refused("X-SoulPrint-User does not match the gateway token.");
  noteUser(request, grant.userId);
  return grant;
}
