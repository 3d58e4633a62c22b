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
import { checkFilePath, type DownloadedFile } from "../lib/telegram/container-bot-file.ts";
import { MAX_STATE_BYTES, STATE_CONTENT_TYPE, type StateMeta } from "../lib/container/container-state.ts";

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
    // If-Match: the ETag the container last saw; a mismatch is a 409 that keeps both texts (issue 15).
    const preconditions = { ifMatch: request.headers.get("if-match") ?? undefined, ifNoneMatch: request.headers.get("if-none-match") ?? undefined };
    return json(await unwrap(userActor(env, grant.userId).containerWrite(grant, name, content, preconditions)));
  });

  // ---- issue 15: the container keeps its life -------------------------------------------------

  /** The whole workspace, conditional: read at boot, on resume and when told the version moved on. */
  router.get("/api/container/workspace", async (request, env) => {
    const grant = await authenticateContainer(request, env);
    const { etag, files } = await unwrap(userActor(env, grant.userId).containerWorkspace(grant));
    const tag = `"${etag}"`;
    const headers = { etag: tag, "cache-control": "no-store" };
    if (matchesEtag(request.headers.get("if-none-match"), etag)) return new Response(null, { status: 304, headers });
    return json({ version: etag, files }, 200, headers);
  });

  /** OpenClaw's state directory as one archive (≤ MAX_STATE_BYTES), a new version each time. */
  router.put("/api/container/state", async (request, env) => {
    const grant = await authenticateContainer(request, env);
    const type = (request.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
    if (type !== STATE_CONTENT_TYPE && type !== "application/octet-stream") {
      throw new HttpError(415, "unsupported_media_type", `Send the state archive as ${STATE_CONTENT_TYPE}.`);
    }
    const bytes = await readBytes(request, MAX_STATE_BYTES);
    const meta = (await unwrap(userActor(env, grant.userId).containerSaveState(grant, bytes.buffer as ArrayBuffer, request.headers.get("if-match") ?? undefined))) as StateMeta;
    return json(meta, 200, { etag: `"${meta.sha256}"` });
  });

  /** The newest state archive; 404 when none was saved yet (a first boot starts empty). */
  router.get("/api/container/state", async (request, env) => {
    const grant = await authenticateContainer(request, env);
    const found = await unwrap(userActor(env, grant.userId).containerLoadState(grant));
    if (!found) throw new HttpError(404, "no_state", "No state was saved for this container yet.");
    const headers = { etag: `"${found.meta.sha256}"`, "x-soulprint-state-version": String(found.meta.version), "cache-control": "no-store" };
    if (matchesEtag(request.headers.get("if-none-match"), found.meta.sha256)) {
      await found.body.cancel();
      return new Response(null, { status: 304, headers });
    }
    return new Response(found.body, { headers: { ...headers, "content-type": STATE_CONTENT_TYPE, "content-length": String(found.meta.size) } });
  });

  /** The next due time of each of the container's scheduled jobs, sent whenever they change. */
  router.put("/api/container/schedule", async (request, env) => {
    const grant = await authenticateContainer(request, env);
    const body = await readJsonObject(request);
    return json(await unwrap(userActor(env, grant.userId).containerSchedule(grant, body)));
  });

  /**
   * The Bot API with the user's bot (container-bot-api.ts). Every answer, our refusals included, is
   * in the Bot API's shape: the container's Telegram client reads it as it would read Telegram.
   * The method and the body's type and size are checked before the object wakes.
   */
  containerFileRoute(router);

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

/** The file route's prefix; what follows is getFile's `file_path`, as the Bot API's `/file/bot<token>/` takes it. */
const FILE_PREFIX = "/api/container/telegram/file/";

/**
 * `GET /api/container/telegram/file/<file_path>`: a file of the user's bot, downloaded by the Worker
 * with the bot's token (container-bot-file.ts), since the container has none. Refusals are in the
 * Bot API's shape like the other Bot API answers; the path is checked before any object wakes.
 */
function containerFileRoute(router: AppRouter): void {
  router.get(`${FILE_PREFIX}*`, async (request, env) => {
    try {
      const grant = await authenticateContainer(request, env);
      const encoded = new URL(request.url).pathname.slice(FILE_PREFIX.length);
      checkFilePath(encoded);
      const file = (await unwrap(userActor(env, grant.userId).containerTelegramFile(grant, encoded))) as unknown as DownloadedFile;
      return new Response(file.bytes, { headers: { "content-type": file.contentType, "content-length": String(file.bytes.byteLength), "cache-control": "no-store" } });
    } catch (error) {
      if (!(error instanceof HttpError)) console.error(JSON.stringify({ event: "container_telegram_file_failed", error: logSafe(error) }));
      return botApiErrorResponse(error);
    }
  });
}

/** If-None-Match as HTTP has it: a list of (possibly weak) tags, or "*". */
function matchesEtag(header: string | null, etag: string): boolean {
  if (!header) return false;
  return header.split(",").some((t) => {
    const tag = t.trim().replace(/^W\//, "").replace(/^"|"$/g, "");
    return tag === "*" || tag === etag;
  });
}
