/**
 * The Worker: authenticates, routes to the user's Durable Object and serves the web app. Wiring only.
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
import { notFoundOrNotAllowed, withSecurityHeaders } from "./lib/responses.ts";
import { logRequest, startRequest } from "./lib/request-log.ts";
import { preflight } from "./lib/cors.ts";

export { UserActor } from "./actors/user-actor.ts";
export { BotPool } from "./actors/bot-pool.ts";

const router: AppRouter = Router<IRequest, [Env, ExecutionContext]>({
  before: [(request: IRequest) => void startRequest(request), preflight],
  catch: (error: unknown) => {
    if (!(error instanceof HttpError)) console.error(JSON.stringify({ event: "unhandled", error: error instanceof Error ? `${error.name}: ${error.message}`.slice(0, 300) : "unknown" }));
    return errorResponse(error);
  },
  finally: [
    (response: Response | undefined, request: IRequest) => withSecurityHeaders(response ?? notFoundOrNotAllowed(router, request)),
    (response: Response, request: IRequest) => logRequest(request, response),
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

export default {
  fetch: (request, env, ctx) => router.fetch(request, env, ctx),
} satisfies ExportedHandler<Env>;
