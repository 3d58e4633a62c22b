/**
 * The Worker's router: every route module, the checks that run before any route (request id, CORS
 * preflight, path encoding), the one `catch` that turns errors into API.md's JSON, and the log line.
 * Its own module so tests can walk `router.routes`.
 */
import { Router, type IRequest } from "itty-router";
import { errorResponse, HttpError } from "./lib/errors.ts";
import type { AppRouter } from "./routes/types.ts";
import { healthRoutes } from "./routes/health.ts";
import { authRoutes } from "./routes/auth.ts";
import { meRoutes } from "./routes/me.ts";
import { workspaceRoutes } from "./routes/workspace.ts";
import { chatRoutes } from "./routes/chat.ts";
import { adminRoutes } from "./routes/admin.ts";
import { flyRoutes } from "./routes/fly.ts";
import { telegramRoutes } from "./routes/telegram.ts";
import { containerRoutes } from "./routes/container.ts";
import { notFoundOrNotAllowed, withSecurityHeaders } from "./lib/responses.ts";
import { logRequest, startRequest } from "./lib/request-log.ts";
import { preflight } from "./lib/cors.ts";
import { checkPathEncoding } from "./lib/path.ts";

export const router: AppRouter = Router<IRequest, [Env, ExecutionContext]>({
  before: [(request: IRequest) => void startRequest(request), preflight, checkPathEncoding],
  catch: (error: unknown) => {
    if (!(error instanceof HttpError)) console.error(JSON.stringify({ event: "unhandled", error: error instanceof Error ? `${error.name}: ${error.message}`.slice(0, 300) : "unknown" }));
    return errorResponse(error);
  },
  finally: [
    (response: Response | undefined, request: IRequest) => withSecurityHeaders(response ?? notFoundOrNotAllowed(router, request)),
    (response: Response, request: IRequest, env: Env) => logRequest(request, response, env),
  ],
});

healthRoutes(router);
authRoutes(router);
meRoutes(router);
workspaceRoutes(router);
chatRoutes(router);
adminRoutes(router);
flyRoutes(router);
telegramRoutes(router);
containerRoutes(router);
