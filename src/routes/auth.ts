import type { AppRouter } from "./types.ts";
import { requireOperator } from "../lib/admin-guard.ts";
import { json, readJsonObject } from "../lib/http.ts";
import { mintUserToken, DEFAULT_TOKEN_TTL_SECONDS } from "../lib/auth.ts";
import { HttpError } from "../lib/errors.ts";

export function authRoutes(router: AppRouter): void {
  router.post("/api/auth/token", async (request, env) => {
    // Only failed attempts are limited (admin-guard.ts): a valid operator may mint at any rate.
    await requireOperator(request, env);
    const body = await readJsonObject(request);
    const ttl = body.ttlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS;
    if (typeof ttl !== "number") throw new HttpError(400, "invalid_ttl", "ttlSeconds must be a number of seconds.");
    return json(await mintUserToken(env, body.email, ttl), 201);
  });
}
