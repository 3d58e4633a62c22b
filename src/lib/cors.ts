/**
 * The CORS policy, explicitly: the API serves its own web app (same origin) and non-browser clients
 * (curl, scripts, Telegram, containers), none of which need CORS. A cross-origin browser preflight is
 * answered without any Access-Control-Allow-* header, so browsers refuse to send the request; bearer
 * tokens are never sent by browsers on their own, so there is nothing to allow.
 */
export function preflight(request: Request): Response | undefined {
  if (request.method !== "OPTIONS") return undefined;
  return new Response(null, { status: 204, headers: { vary: "Origin", allow: "GET, POST, PUT, PATCH, DELETE" } });
}
