/**
 * The Worker: authenticates, routes to the user's Durable Object and serves the web app. Wiring only.
 */
import { router } from "./router.ts";

export { UserActor } from "./actors/user-actor.ts";
export { BotPool } from "./actors/bot-pool.ts";

export default {
  fetch: (request, env, ctx) => router.fetch(request, env, ctx),
} satisfies ExportedHandler<Env>;
