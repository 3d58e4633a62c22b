import type { AppRouter } from "./types.ts";
import { json, readText } from "../lib/http.ts";
import { authenticate, USER_ID_PATTERN } from "../lib/auth.ts";
import { userActor } from "../lib/actors.ts";
import { unwrap } from "../lib/rpc.ts";
import { HttpError } from "../lib/errors.ts";
import { MAX_FILE_BYTES, validateFileName } from "../lib/workspace.ts";

export function flyRoutes(router: AppRouter): void {
  router.get("/api/fly/status", async (request, env) => {
    const who = await authenticate(request, env);
    return json(await unwrap(userActor(env, who.userId).flyStatus(who)));
  });

  router.post("/api/fly/provision", async (request, env) => {
    const who = await authenticate(request, env);
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

  // The user's container writes back a file its agent changed: its gateway token + its user id.
  router.put("/api/container/workspace/:name", async (request, env) => {
    const userId = request.headers.get("x-soulprint-user") ?? "";
    const token = /^Bearer\s+(.+)$/i.exec(request.headers.get("authorization") ?? "")?.[1];
    if (!USER_ID_PATTERN.test(userId) || !token) {
      throw new HttpError(401, "unauthorized", "Send Authorization: Bearer <GATEWAY_TOKEN> and X-SoulPrint-User: <userId>.");
    }
    const name = decodeURIComponent(request.params.name ?? "");
    validateFileName(name);
    const content = await readText(request, MAX_FILE_BYTES);
    return json(await unwrap(userActor(env, userId).containerWrite(token, name, content)));
  });
}
