import type { AppRouter } from "./types.ts";
import { json, readJsonObject } from "../lib/http.ts";
import { mintUserToken, requireAdmin, DEFAULT_TOKEN_TTL_SECONDS } from "../lib/auth.ts";
import { HttpError } from "../lib/errors.ts";
import { clientIp, enforceLimit } from "../lib/rate-limit.ts";

export function authRoutes(router: AppRouter): void {
  router.post("/api/auth/token", async (request, env) => {
    await enforceLimit(env.RATE_LIMIT_IP, `auth:${clientIp(request)}`, "sign-in attempts");
    requireAdmin(request, env);
    const body = await readJsonObject(request);
    const ttl = body.ttlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS;
    if (typeof ttl !== "number") throw new HttpError(400, "invalid_ttl", "ttlSeconds must be a number of seconds.");
    return json(await mintUserToken(env, body.email, ttl), 201);
  });
}
