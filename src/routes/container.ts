import type { AppRouter } from "./types.ts";
import { json, readBytes, readJsonObject, readText } from "../lib/http.ts";
import { MAX_GATEWAY_BODY_BYTES, type GatewayAnswer } from "../lib/container/model-gateway.ts";
import { anthropicErrorResponse } from "../lib/container/anthropic-wire.ts";
import { userActor } from "../lib/actors.ts";
import { unwrap } from "../lib/rpc.ts";
import { HttpError, errorInfo, logSafe } from "../lib/errors.ts";
import { MAX_FILE_BYTES, validateFileName } from "../lib/workspace.ts";
import { authenticateContainer } from "../lib/gateway-token.ts";
import { pathParam } from "../lib/path.ts";
import { allowedContainerMethod, assertSupportedBody, botApiErrorResponse, MAX_CONTAINER_BOT_BODY_BYTES } from "../lib/telegram/container-bot-api.ts";

/** The user's container calling back: GATEWAY_TOKEN checked here, before any object wakes. */
export function containerRoutes(router: AppRouter): void {
  // The model gateway answers in Anthropic's shapes only, its errors included: the container's
  // Anthropic client reads nothing else.
  router.post("/api/container/model/v1/messages", async (request, env) => {
    try {
      const grant = await authenticateContainer(request, env);
      const body = await readJsonObject(request, MAX_GATEWAY_BODY_BYTES);
      // The stub's types turn this union into `never`; the value is the object's GatewayAnswer as sent.
      const answer = (await unwrap(userActor(env, grant.userId).containerModel(grant, body, request.headers.get("anthropic-beta")))) as unknown as GatewayAnswer;
      if (answer.kind === "json") return Response.json(answer.body);
      return new Response(answer.stream, { headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", "x-accel-buffering": "no" } });
    } catch (error) {
      const info = errorInfo(error);
      if (info.status >= 500 && !(error instanceof HttpError)) console.error(JSON.stringify({ event: "gateway_error", error: logSafe(error) }));
      return anthropicErrorResponse(info);
    }
  });

  router.put("/api/container/workspace/:name", async (request, env) => {
    const grant = await authenticateContainer(request, env);
    const name = pathParam(request, "name");
    validateFileName(name);
    const content = await readText(request, MAX_FILE_BYTES);
    return json(await unwrap(userActor(env, grant.userId).containerWrite(grant, name, content)));
  });

  /**
   * The Bot API with the user's bot (container-bot-api.ts). Every answer, our refusals included, is
   * in the Bot API's shape: the container's Telegram client reads it as it would read Telegram.
   * The method and the body's type and size are checked before the object wakes.
   */
  router.post("/api/container/telegram/:method", async (request, env) => {
    try {
      const grant = await authenticateContainer(request, env);
      const method = allowedContainerMethod(pathParam(request, "method"));
      const contentType = request.headers.get("content-type") ?? "";
      assertSupportedBody(contentType);
      const body = await readBytes(request, MAX_CONTAINER_BOT_BODY_BYTES);
      const answer = await unwrap(userActor(env, grant.userId).containerTelegram(grant, { method, contentType, body }));
      return new Response(answer.text, { status: answer.status, headers: { "content-type": "application/json" } });
    } catch (error) {
      if (!(error instanceof HttpError)) console.error(JSON.stringify({ event: "container_telegram_failed", error: logSafe(error) }));
      return botApiErrorResponse(error);
    }
  });
}
