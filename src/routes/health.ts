import type { AppRouter } from "./types.ts";
import { json } from "../lib/http.ts";
import { missingSecrets } from "../lib/config.ts";

export const VERSION = "0.1.0";

export function healthRoutes(router: AppRouter): void {
  router.get("/api/health", (_request, env) =>
    json({ ok: true, version: VERSION, devAuth: env.ALLOW_EMAIL_AUTH === "true", missing: missingSecrets(env) }),
  );
}
