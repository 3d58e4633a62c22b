import type { AppRouter } from "./types.ts";
import { json, readJsonObject } from "../lib/http.ts";
import { authenticate } from "../lib/auth.ts";
import { userActor } from "../lib/actors.ts";
import { unwrap } from "../lib/rpc.ts";
import { HttpError } from "../lib/errors.ts";
import { exportImages } from "../lib/account-export.ts";

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

  router.get("/api/me/export", async (request, env) => {
    const who = await authenticate(request, env);
    const stored = await unwrap(userActor(env, who.userId).exportMe(who));
    const body = { ...stored, images: await exportImages(env.IMAGES, who.userId) };
    return json(body, 200, { "content-disposition": `attachment; filename="soulprint-export-${stored.exportedAt.slice(0, 10)}.json"` });
  });

  // The email as confirmation: a leaked token alone cannot delete an account by accident of a click.
  router.delete("/api/me", async (request, env) => {
    const who = await authenticate(request, env);
    const body = await readJsonObject(request);
    return json(await unwrap(userActor(env, who.userId).deleteMe(who, body.confirm)), 202);
  });

  // The container's upcoming scheduled jobs (issue 15), for the status panel.
  router.get("/api/schedule", async (request, env) => {
    const who = await authenticate(request, env);
    return json(await unwrap(userActor(env, who.userId).scheduledJobs(who)));
  });

  router.get("/api/usage", async (request, env) => {
    const who = await authenticate(request, env);
    const raw = new URL(request.url).searchParams.get("days") ?? "7";
    const days = Number(raw);
    if (!Number.isInteger(days) || days < 1 || days > 90) throw new HttpError(400, "invalid_days", "days must be a whole number from 1 to 90.");
    return json(await unwrap(userActor(env, who.userId).usage(who, days)));
  });
}
