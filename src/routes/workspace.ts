import type { AppRouter } from "./types.ts";
import { json, readText } from "../lib/http.ts";
import { authenticate } from "../lib/auth.ts";
import { userActor } from "../lib/actors.ts";
import { unwrap } from "../lib/rpc.ts";
import { HttpError } from "../lib/errors.ts";
import { pathParam } from "../lib/path.ts";
import { MAX_FILE_BYTES, validateFileName } from "../lib/workspace.ts";
import { MAX_VERSIONS_PAGE } from "../lib/file-versions.ts";

/** Text bodies only: markdown or plain text (JSON-encoded files would be stored with their quotes). */
const TEXT_TYPES = /^(text\/(markdown|plain|x-markdown)|application\/octet-stream)\b/i;

export function workspaceRoutes(router: AppRouter): void {
  router.get("/api/workspace", async (request, env) => {
    const who = await authenticate(request, env);
    return json(await unwrap(userActor(env, who.userId).listFiles(who)));
  });

  router.get("/api/workspace/:name", async (request, env) => {
    const who = await authenticate(request, env);
    const name = fileName(pathParam(request, "name"));
    const file = await unwrap(userActor(env, who.userId).readFile(who, name));
    const etag = `"${file.meta.sha256}"`;
    if (request.headers.get("if-none-match") === etag) return new Response(null, { status: 304, headers: { etag } });
    return new Response(file.content, {
      headers: { "content-type": "text/markdown; charset=utf-8", etag, "x-file-version": String(file.meta.version), "cache-control": "no-store" },
    });
  });

  router.put("/api/workspace/:name", async (request, env) => {
    const who = await authenticate(request, env);
    const name = fileName(pathParam(request, "name"));
    const type = request.headers.get("content-type");
    if (type && !TEXT_TYPES.test(type)) throw new HttpError(415, "unsupported_media_type", "Send the file as text: Content-Type: text/markdown; charset=utf-8.");
    // The byte cap of a file, plus room for a BOM-free UTF-8 check to run before the actor's own cap.
    const content = await readText(request, MAX_FILE_BYTES);
    const preconditions = { ifMatch: request.headers.get("if-match") ?? undefined, ifNoneMatch: request.headers.get("if-none-match") ?? undefined };
    const meta = await unwrap(userActor(env, who.userId).writeFile(who, name, content, preconditions));
    return json(meta, 200, { etag: `"${meta.sha256}"` });
  });

  router.delete("/api/workspace/:name", async (request, env) => {
    const who = await authenticate(request, env);
    const name = fileName(pathParam(request, "name"));
    await unwrap(userActor(env, who.userId).deleteFile(who, name, request.headers.get("if-match") ?? undefined));
    return new Response(null, { status: 204 });
  });

  router.get("/api/workspace/:name/versions", async (request, env) => {
    const who = await authenticate(request, env);
    const name = fileName(pathParam(request, "name"));
    return json(await unwrap(userActor(env, who.userId).fileVersions(who, name, versionsPage(new URL(request.url).searchParams))));
  });
}

/** `?limit=` (1–50, default 20) and `?before=` (a version number, for the next page). */
function versionsPage(params: URLSearchParams): { limit?: number; before?: number } {
  const page: { limit?: number; before?: number } = {};
  if (params.has("limit")) {
    const limit = Number(params.get("limit"));
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_VERSIONS_PAGE) throw new HttpError(400, "invalid_limit", `limit must be a whole number from 1 to ${MAX_VERSIONS_PAGE}.`);
    page.limit = limit;
  }
  if (params.has("before")) {
    const before = Number(params.get("before"));
    if (!Number.isSafeInteger(before) || before < 1) throw new HttpError(400, "invalid_before", "before must be a version number from an earlier page.");
    page.before = before;
  }
  return page;
}

function fileName(name: string): string {
  validateFileName(name);
  return name;
}
