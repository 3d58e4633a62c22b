import type { AppRouter } from "./types.ts";
import { json, readBytes, readJsonObject } from "../lib/http.ts";
import { imageTooLarge } from "../lib/images/user-images.ts";
import { MAX_IMAGE_BYTES } from "../lib/images/image-bytes.ts";
import { authenticate } from "../lib/auth.ts";
import { userActor } from "../lib/actors.ts";
import { unwrap } from "../lib/rpc.ts";
import { HttpError } from "../lib/errors.ts";
import { verifyTicket } from "../lib/tickets.ts";
import { clientIp, enforceLimit } from "../lib/rate-limit.ts";
import { pathParam } from "../lib/path.ts";
import { IMAGE_ID_PATTERN, imageKey } from "../lib/chat/tools.ts";

export function chatRoutes(router: AppRouter): void {
  router.post("/api/chat/ticket", async (request, env) => {
    await enforceLimit(env.RATE_LIMIT_IP, `ticket:${clientIp(request)}`, "connection tickets");
    const who = await authenticate(request, env);
    await enforceLimit(env.RATE_LIMIT_USER, `ticket:${who.userId}`, "connection tickets");
    return json(await unwrap(userActor(env, who.userId).chatTicket(who)), 201);
  });

  // WebSocket upgrade: a one-use ticket (browsers) or the Authorization header (other clients).
  router.get("/api/chat", async (request, env) => {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      throw new HttpError(426, "upgrade_required", "GET /api/chat is the WebSocket endpoint: connect with a WebSocket client.", { upgrade: "websocket" });
    }
    await enforceLimit(env.RATE_LIMIT_IP, `ws:${clientIp(request)}`, "connection attempts");
    const ticket = new URL(request.url).searchParams.get("ticket");
    // A fresh request carries only what the object needs: never the caller's own x-soulprint-* headers.
    const headers = new Headers({ upgrade: "websocket" });
    let userId: string;
    if (ticket !== null) {
      // Checked here, before routing: a forged or expired ticket never wakes or creates an object.
      const owner = await verifyTicket(env, ticket);
      if (!owner) throw new HttpError(401, "invalid_ticket", "This ticket is not valid. Ask for a new one with POST /api/chat/ticket.");
      userId = owner;
      headers.set("x-soulprint-ticket", ticket);
    } else {
      const who = await authenticate(request, env);
      userId = who.userId;
      headers.set("x-soulprint-identity", JSON.stringify(who));
    }
    return userActor(env, userId).fetch(new Request("https://user-actor/ws", { headers }));
  });

  router.post("/api/chat", async (request, env) => {
    const who = await authenticate(request, env);
    await enforceLimit(env.RATE_LIMIT_USER, `chat:${who.userId}`, "messages");
    const body = await readJsonObject(request, 160 * 1024);
    const input = { id: body.id, text: body.text, images: body.images };
    const actor = userActor(env, who.userId);
    if ((request.headers.get("accept") ?? "").includes("application/json")) {
      return json(await unwrap(actor.chatComplete(who, input)));
    }
    const stream = await unwrap(actor.chatStream(who, input));
    return new Response(stream, {
      headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache, no-transform", "x-accel-buffering": "no" },
    });
  });

  router.get("/api/chat/history", async (request, env) => {
    const who = await authenticate(request, env);
    const params = new URL(request.url).searchParams;
    const limit = params.has("limit") ? Number(params.get("limit")) : 50;
    if (!Number.isInteger(limit) || limit < 1 || limit > 200) throw new HttpError(400, "invalid_limit", "limit must be a whole number from 1 to 200.");
    const before = params.get("before") ?? undefined;
    if (before !== undefined && (before.length === 0 || before.length > 64)) throw new HttpError(400, "invalid_before", "before must be a message id.");
    return json(await unwrap(userActor(env, who.userId).chatHistory(who, limit, before)));
  });

  // An image to send with a chat message: the raw bytes as the body; the answer's id goes in `images`.
  router.post("/api/images", async (request, env) => {
    const who = await authenticate(request, env);
    await enforceLimit(env.RATE_LIMIT_USER, `upload:${who.userId}`, "image uploads");
    const bytes = await readBytes(request, MAX_IMAGE_BYTES, imageTooLarge);
    return json(await unwrap(userActor(env, who.userId).uploadImage(who, bytes)), 201);
  });

  // Images are stored under their owner's id: another user's image id simply finds nothing (404).
  router.get("/api/images/:id", async (request, env) => {
    const who = await authenticate(request, env);
    const id = pathParam(request, "id");
    if (!IMAGE_ID_PATTERN.test(id)) throw new HttpError(404, "image_not_found", "There is no such image.");
    const object = await env.IMAGES.get(imageKey(who.userId, id));
    if (!object) throw new HttpError(404, "image_not_found", "There is no such image.");
    const type = object.httpMetadata?.contentType ?? "image/png";
    return new Response(object.body, {
      headers: { "content-type": type, "x-content-type-options": "nosniff", "cache-control": "private, max-age=31536000, immutable" },
    });
  });
}
