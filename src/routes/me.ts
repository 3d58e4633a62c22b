import type { AppRouter } from "./types.ts";
import { json, readJsonObject } from "../lib/http.ts";
import { authenticate } from "../lib/auth.ts";
import { userActor } from "../lib/actors.ts";
import { unwrap } from "../lib/rpc.ts";
import { HttpError } from "../lib/errors.ts";

export function meRoutes(router: AppRouter): void {
  router.get("/api/me", async (request, env) => {
    const who = await authenticate(request, env);
    return json(await unwrap(userActor(env, who.userId).me(who)));
  });

  router.patch("/api/me", async (request, env) => {
    const who = await authenticate(request, env);
    const body = await readJsonObject(request);
    if (body.chatMode === undefined) throw new HttpError(400, "missing_field", 'Send { "chatMode": "auto" | "direct" }.');
    return json(await unwrap(userActor(env, who.userId).updateMe(who, { chatMode: body.chatMode })));
  });

  router.get("/api/usage", async (request, env) => {
    const who = await authenticate(request, env);
    const raw = new URL(request.url).searchParams.get("days") ?? "7";
    const days = Number(raw);
    if (!Number.isInteger(days) || days < 1 || days > 90) throw new HttpError(400, "invalid_days", "days must be a whole number from 1 to 90.");
    return json(await unwrap(userActor(env, who.userId).usage(who, days)));
  });
}
