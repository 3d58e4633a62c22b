/**
 * BotPool: the operator's pool of Telegram bots, one object for the whole deployment so that no two
 * users can ever be handed the same bot (a single object runs one event at a time).
 */
import { DurableObject } from "cloudflare:workers";

export class BotPool extends DurableObject<Env> {}
