import type { IRequest, RouterType } from "itty-router";

/** Every route handler gets the request, the Worker's env and its execution context. */
export type AppRouter = RouterType<IRequest, [Env, ExecutionContext]>;
