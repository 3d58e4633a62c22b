import type { AppRouter } from "./types.ts";
import { json } from "../lib/http.ts";
import { authenticate } from "../lib/auth.ts";
import { userActor } from "../lib/actors.ts";
import { unwrap } from "../lib/rpc.ts";
import { requirePublicUrl } from "../lib/config.ts";

export function flyRoutes(router: AppRouter): void {
  router.get("/api/fly/status", async (request, env) => {
    const who = await authenticate(request, env);
    return json(await unwrap(userActor(env, who.userId).flyStatus(who)));
  });

  router.post("/api/fly/provision", async (request, env) => {
    const who = await authenticate(request, env);
    requirePublicUrl(env, new URL(request.url).origin);
    return json(await unwrap(userActor(env, who.userId).flyProvision(who)), 202);
  });

  router.post("/api/fly/sync", async (request, env) => {
    const who = await authenticate(request, env);
    const result = await unwrap(userActor(env, who.userId).flySync(who));
    return json(result, "queued" in result ? 202 : 200);
  });

  router.delete("/api/fly/app", async (request, env) => {
    const who = await authenticate(request, env);
    return json(await unwrap(userActor(env, who.userId).flyDelete(who)), 202);
  });
}
