import type { AppRouter } from "./types.ts";
import { requireOperator } from "../lib/admin-guard.ts";
import { json, readJsonObject } from "../lib/http.ts";
import { deriveUserId, normalizeEmail } from "../lib/auth.ts";
import { requireSecret } from "../lib/config.ts";
import { userActor } from "../lib/actors.ts";
import { unwrap } from "../lib/rpc.ts";
import { pathParam } from "../lib/path.ts";

export function adminRoutes(router: AppRouter): void {
  router.put("/api/admin/users/:email/tier", async (request, env) => {
    await requireOperator(request, env);
    const email = normalizeEmail(pathParam(request, "email"));
    const body = await readJsonObject(request);
    const userId = await deriveUserId(requireSecret(env, "USER_ID_SALT"), email);
    const me = await unwrap(userActor(env, userId).setTier({ userId, email }, body.tier));
    return json({ userId: me.userId, email: me.email, tier: me.tier });
  });
}
