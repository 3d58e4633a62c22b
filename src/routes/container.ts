import type { AppRouter } from "./types.ts";
import { json, readText } from "../lib/http.ts";
import { userActor } from "../lib/actors.ts";
import { unwrap } from "../lib/rpc.ts";
import { MAX_FILE_BYTES, validateFileName } from "../lib/workspace.ts";
import { authenticateContainer } from "../lib/gateway-token.ts";
import { pathParam } from "../lib/path.ts";

/** The user's container calling back: GATEWAY_TOKEN checked here, before any object wakes. */
export function containerRoutes(router: AppRouter): void {
  router.put("/api/container/workspace/:name", async (request, env) => {
    const grant = await authenticateContainer(request, env);
    const name = pathParam(request, "name");
    validateFileName(name);
    const content = await readText(request, MAX_FILE_BYTES);
    return json(await unwrap(userActor(env, grant.userId).containerWrite(grant, name, content)));
  });
}
