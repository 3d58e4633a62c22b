import type { AppRouter } from "./types.ts";
import { json, readJsonObject } from "../lib/http.ts";
import { deriveUserId, normalizeEmail, requireAdmin } from "../lib/auth.ts";
import { requireSecret } from "../lib/config.ts";
import { userActor } from "../lib/actors.ts";
import { unwrap } from "../lib/rpc.ts";
import { HttpError } from "../lib/errors.ts";

export function adminRoutes(router: AppRouter): void {
  router.put("/api/admin/users/:email/tier", async (request, env) => {
    requireAdmin(request, env);
    let raw: string;
    try {
      raw = decodeURIComponent(request.params.email ?? "");
    } catch {
      throw new HttpError(400, "invalid_email", "The email in the path is not valid URL encoding.");
    }
    const email = normalizeEmail(raw);
    const body = await readJsonObject(request);
    const userId = await deriveUserId(requireSecret(env, "USER_ID_SALT"), email);
    const me = await unwrap(userActor(env, userId).setTier({ userId, email }, body.tier));
    return json({ userId: me.userId, email: me.email, tier: me.tier });
  });
}
