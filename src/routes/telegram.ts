import type { AppRouter } from "./types.ts";
import { requireOperator } from "../lib/admin-guard.ts";
import { json, readJsonObject, readOptionalJsonObject, readText } from "../lib/http.ts";
import { authenticate, USER_ID_PATTERN } from "../lib/auth.ts";
import { userActor } from "../lib/actors.ts";
import { unwrap } from "../lib/rpc.ts";
import { HttpError } from "../lib/errors.ts";
import { botPool } from "../lib/telegram/pool.ts";
import { MAX_UPDATE_BYTES } from "../lib/telegram/telegram-service.ts";
import { isWebhookSecretFor } from "../lib/telegram/webhook-secret.ts";
import { requirePublicUrl, requireSecret } from "../lib/config.ts";
import { pathParam } from "../lib/path.ts";

const SECRET_HEADER = "x-telegram-bot-api-secret-token";
const unauthorizedWebhook = () => new HttpError(401, "unauthorized", "The secret token does not match this webhook.");

export function telegramRoutes(router: AppRouter): void {
  router.post("/api/telegram/claim", async (request, env) => {
    const who = await authenticate(request, env);
    const body = await readOptionalJsonObject(request);
    const botToken = body.botToken ?? undefined;
    if (botToken !== undefined && (typeof botToken !== "string" || botToken.length > 200)) {
      throw new HttpError(400, "invalid_bot_token", "botToken must be the token @BotFather gave you, as a string.");
    }
    const origin = new URL(request.url).origin;
    requirePublicUrl(env, origin);
    return json(await unwrap(userActor(env, who.userId).telegramClaim(who, botToken?.trim(), origin)));
  });

  router.delete("/api/telegram/claim", async (request, env) => {
    const who = await authenticate(request, env);
    await unwrap(userActor(env, who.userId).telegramRelease(who));
    return new Response(null, { status: 204 });
  });

  // Telegram's delivery: no user token; the per-bot secret is the credential, checked here (forged
  // ones never reach an object) and again by the object (a released bot's secret is refused). The
  // object only stores the update and schedules its job: this answers in milliseconds.
  router.post("/telegram/webhook/:userId", async (request, env) => {
    const userId = pathParam(request, "userId");
    const secret = request.headers.get(SECRET_HEADER);
    if (!USER_ID_PATTERN.test(userId) || !secret || !(await isWebhookSecretFor(requireSecret(env, "ENCRYPTION_KEY"), userId, secret))) throw unauthorizedWebhook();
    let update: unknown;
    try {
      update = JSON.parse(await readText(request, MAX_UPDATE_BYTES));
    } catch (error) {
      if (error instanceof HttpError) throw error;
      throw new HttpError(400, "invalid_json", "The body is not valid JSON.");
    }
    if (typeof update !== "object" || update === null || Array.isArray(update)) throw new HttpError(400, "invalid_update", "A Telegram update is a JSON object.");
    await unwrap(userActor(env, userId).telegramUpdate(userId, secret, update));
    return new Response(null, { status: 200 });
  });

  router.post("/api/admin/telegram/pool", async (request, env) => {
    await requireOperator(request, env);
    const body = await readJsonObject(request);
    const tokens = body.botTokens;
    if (!Array.isArray(tokens) || tokens.some((t) => typeof t !== "string")) {
      throw new HttpError(400, "invalid_bot_tokens", 'Send { "botTokens": ["123456:ABC...", ...] }.');
    }
    return json(await unwrap(botPool(env).add((tokens as string[]).map((t) => t.trim()))), 201);
  });

  // Released from its user first (their object deletes the webhook and lets go), then removed.
  router.delete("/api/admin/telegram/pool/:username", async (request, env) => {
    await requireOperator(request, env);
    const bot = await unwrap(botPool(env).find(pathParam(request, "username")));
    if (bot.claimedBy) {
      await unwrap(userActor(env, bot.claimedBy).telegramReleasePoolBot(bot.botId));
      // Idempotent: also clears a claim the user's object no longer knows about.
      await unwrap(botPool(env).release(bot.claimedBy, bot.botId));
    }
    await unwrap(botPool(env).remove(bot.botId));
    return new Response(null, { status: 204 });
  });

  router.get("/api/admin/telegram/pool", async (request, env) => {
    await requireOperator(request, env);
    return json(await unwrap(botPool(env).list()));
  });
}
