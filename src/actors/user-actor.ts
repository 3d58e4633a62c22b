/**
 * UserActor: everything about one user, in one Durable Object with SQLite storage. The platform
 * handlers stay thin (initialise, then delegate to lib/); the Worker calls the typed RPC methods
 * below, each returning an RpcResult so an HttpError keeps its status across the boundary.
 */
import { DurableObject } from "cloudflare:workers";
import type { BedrockRuntimeClient } from "@aws-sdk/client-bedrock-runtime";
import { Sql } from "../lib/sql.ts";
import { migrate, USER_MIGRATIONS } from "../lib/schema.ts";
import { JobScheduler } from "../lib/jobs.ts";
import { Workspace } from "../lib/workspace.ts";
import { ObjectEvents } from "../lib/object-events.ts";
import type { ObjectContext } from "../lib/object-context.ts";
import { loadConfig, requirePublicUrl, type Config } from "../lib/config.ts";
import { HttpError } from "../lib/errors.ts";
import { capture, type RpcResult } from "../lib/rpc.ts";
import type { Identity } from "../lib/auth.ts";
import type { GatewayGrant } from "../lib/gateway-token.ts";
import { ensureProfile, readProfile, setChatMode, setTier, type Profile } from "../lib/profile.ts";
import { issueTicket, redeemTicket } from "../lib/tickets.ts";
import { budgetExceeded, dailyBudget, usageDays, type DayUsage } from "../lib/usage.ts";
import { ChatHistory, type HistoryMessage } from "../lib/chat/history.ts";
import { ChatEngine, type ReplyResult } from "../lib/chat/chat-engine.ts";
import { SocketHub } from "../lib/chat/socket-hub.ts";
import { handleClientFrame } from "../lib/chat/socket-frames.ts";
import type { ChatFrame } from "../lib/chat/frames.ts";
import { createBedrockClient } from "../lib/chat/bedrock.ts";
import { sseStream } from "../lib/chat/sse.ts";
import { buildMe, type Me } from "../lib/me.ts";
import { userLogHash } from "../lib/request-log.ts";
import { UpstreamMeter } from "../lib/upstream-meter.ts";
import { FLY_JOBS, FlyService, type FlyStatus } from "../lib/fly/fly-service.ts";
import { ContainerRouting } from "../lib/container/container-routing.ts";
import { TelegramService } from "../lib/telegram/telegram-service.ts";
import { botPool } from "../lib/telegram/pool.ts";
import { ModelGateway, type GatewayAnswer } from "../lib/container/model-gateway.ts";
import type { BotApiReply, ContainerBotCall } from "../lib/telegram/container-bot-api.ts";
import type { DownloadedFile } from "../lib/telegram/container-bot-file.ts";
import { exportStoredData } from "../lib/account-export.ts";
import { ContainerLife, type ScheduleView } from "../lib/container/container-life.ts";
import type { StateMeta } from "../lib/container/container-state.ts";
import { storeImage } from "../lib/images/user-images.ts";
import { defineDeletionJob, deletionPending, refuseWhileDeleting, requestDeletion, type DeletionHost } from "../lib/account-deletion.ts";

export class UserActor extends DurableObject<Env> {
  /** What every service shares (env, config parsed once, sql, jobs, meter, events): lib/object-context.ts. */
  readonly context: ObjectContext;
  readonly sql: Sql;
  readonly config: Config;
  readonly jobs: JobScheduler;
  readonly workspace: Workspace;
  readonly history: ChatHistory;
  readonly sockets: SocketHub;
  readonly chat: ChatEngine;
  readonly fly: FlyService;
  /** Upstream calls this object made, for the job and reply log lines. */
  readonly meter = new UpstreamMeter();
  readonly telegram: TelegramService;
  readonly gateway: ModelGateway;
  /** Issue 15: the container's saved state, its schedule and the wakes. */
  readonly life: ContainerLife;
  /** The container as a route: route choice, its producer, Telegram forwarding, the circuit. */
  readonly container: ContainerRouting;
  #bedrockClient: BedrockRuntimeClient | null = null;
  /** The owner as log lines name them (a keyed hash, never the id). */
  #userHash: string | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = new Sql(ctx.storage.sql);
    this.config = loadConfig(env);
    this.jobs = new JobScheduler(this.sql, ctx.storage, Date.now, () => ({ user: this.#userHash }), this.meter);
    const events = new ObjectEvents();
    this.context = {
      env,
      config: this.config,
      sql: this.sql,
      jobs: this.jobs,
      meter: this.meter,
      events,
      profile: () => readProfile(this.sql),
      owner: () => this.#requireProfile(),
      broadcast: (frame) => this.sockets.broadcast(frame),
      bedrock: () => this.#bedrock(),
      logContext: () => ({ user: this.#userHash }),
      waitUntil: (work) => this.ctx.waitUntil(work),
    };
    this.workspace = new Workspace(this.sql, (change) => this.ctx.waitUntil(events.emit("workspaceChanged", change)));
    this.history = new ChatHistory(this.sql);
    this.sockets = new SocketHub(ctx);
    ctx.blockConcurrencyWhile(async () => {
      migrate(this.sql, ctx.storage, USER_MIGRATIONS);
      // A reply still "streaming" in storage belonged to an instance that stopped mid-reply.
      this.history.markOrphansInterrupted(new Set());
    });
    // Answered by the runtime without waking the object (hibernation auto-response).
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
    events.on("workspaceChanged", (change) => this.sockets.broadcast({ type: "workspace", name: change.name, sha256: change.sha256, version: change.version }));

    // Each service gets the context and the services it reads, in one direction; what flows back
    // (workspace changed, claim changed, container usage) is an event.
    this.fly = new FlyService(this.context, this.workspace);
    this.container = new ContainerRouting(this.context, { fly: this.fly, workspace: this.workspace });
    this.chat = new ChatEngine(this.context, { history: this.history, workspace: this.workspace, container: this.container });
    this.gateway = new ModelGateway(this.context);
    this.telegram = new TelegramService(this.context, { chat: this.chat, history: this.history, container: this.container });
    this.life = new ContainerLife(this.context, { history: this.history, fly: this.fly, container: this.container });
    for (const service of [this.fly, this.container, this.chat, this.telegram, this.life]) service.defineJobs();
    defineDeletionJob(this.#deletionHost());
    ctx.blockConcurrencyWhile(() => this.chat.armQueue());
  }

  // ---- platform handlers -------------------------------------------------------------------

  /** The one request that goes through fetch: the WebSocket upgrade (identity set by the Worker). */
  override async fetch(request: Request): Promise<Response> {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") return new Response("Expected a WebSocket upgrade", { status: 426 });
    if (deletionPending(this.jobs)) return Response.json({ error: { code: "account_deleting", message: "This account is being deleted." } }, { status: 409 });
    const ticket = request.headers.get("x-soulprint-ticket");
    const identity = request.headers.get("x-soulprint-identity");
    if (ticket !== null) {
      if (!(await redeemTicket(this.sql, ticket)) || !readProfile(this.sql)) {
        return Response.json({ error: { code: "invalid_ticket", message: "This ticket is unknown, expired or already used. Ask for a new one with POST /api/chat/ticket." } }, { status: 401 });
      }
    } else if (identity) {
      await this.#identify(JSON.parse(identity) as Identity);
    } else {
      return Response.json({ error: { code: "unauthorized", message: "Sign in first." } }, { status: 401 });
    }
    const response = this.sockets.accept(this.#helloFrame());
    this.life.wakeInBackground("hello");
    return response;
  }

  override async alarm(): Promise<void> {
    await this.#ensureUserHash();
    await this.jobs.runDue();
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    await this.sockets.onMessage(ws, message, {
      onFrame: (socket, frame) => handleClientFrame(this.context, { chat: this.chat, history: this.history, reply: (f) => this.sockets.send(socket, f) }, frame),
    });
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    // Replies keep running; only the socket goes. 1005/1006 carry no close code of their own.
    try {
      ws.close(code === 1005 || code === 1006 ? 1000 : code, "closing");
    } catch {
      // already closed
    }
  }

  override async webSocketError(): Promise<void> {}

  // ---- RPC: profile, workspace ---------------------------------------------------------------

  async me(who: Identity): Promise<RpcResult<Me>> {
    return this.#asUser(who, () => this.#describeMe());
  }

  async updateMe(who: Identity, patch: { chatMode?: unknown }): Promise<RpcResult<Me>> {
    return this.#asUser(who, async () => {
      if (patch.chatMode !== undefined) setChatMode(this.sql, patch.chatMode);
      return this.#describeMe();
    });
  }

  async setTier(who: Identity, tier: unknown): Promise<RpcResult<Me>> {
    return this.#asUser(who, async () => {
      setTier(this.sql, tier);
      return this.#describeMe();
    });
  }

  async listFiles(who: Identity) {
    return this.#asUser(who, () => ({ files: this.workspace.list() }));
  }

  async readFile(who: Identity, name: string) {
    return this.#asUser(who, async () => {
      const file = this.workspace.read(name);
      if (!file) throw new HttpError(404, "file_not_found", `There is no ${name} in your workspace.`);
      return file;
    });
  }

  async writeFile(who: Identity, name: string, content: string, preconditions: { ifMatch?: string; ifNoneMatch?: string } = {}) {
    return this.#asUser(who, () => this.workspace.write(name, content, { ...preconditions, source: "user" }));
  }

  async deleteFile(who: Identity, name: string, ifMatch?: string) {
    return this.#asUser(who, () => this.workspace.delete(name, { ifMatch, source: "user" }));
  }

  async fileVersions(who: Identity, name: string, page: { limit?: number; before?: number } = {}) {
    return this.#asUser(who, () => this.workspace.versions(name, page));
  }

  // ---- RPC: the person's own data ----------------------------------------------------------------

  /** Everything stored about the user (the Worker adds the R2 images). */
  async exportMe(who: Identity) {
    return this.#asUser(who, () => {
      const { botUsername, claimed, ownerBound, fromPool } = this.telegram.status();
      const fly = this.fly.store();
      return exportStoredData(this.sql, {
        profile: this.#requireProfile(),
        history: this.history.all(),
        telegram: { claimed, ...(botUsername ? { botUsername, ownerBound, fromPool } : {}) },
        fly: { state: fly.state, app: fly.state === "none" ? null : fly.app, region: fly.state === "none" ? null : fly.region },
      });
    });
  }

  /** Deletes the account once `confirm` is the user's email (202; the job does the rest). */
  async deleteMe(who: Identity, confirm: unknown) {
    return capture(async () => {
      if (deletionPending(this.jobs)) return { deleting: true as const };
      const profile = await this.#identify(who);
      return requestDeletion(this.#deletionHost(), profile.email, confirm);
    });
  }

  // ---- RPC: chat -----------------------------------------------------------------------------

  async chatTicket(who: Identity) {
    return this.#asUser(who, () => issueTicket(this.sql, this.env, who.userId));
  }

  async chatHistory(who: Identity, limit: number, before?: string): Promise<RpcResult<{ messages: HistoryMessage[]; hasMore: boolean }>> {
    return this.#asUser(who, () => this.history.page(limit, before));
  }

  /** An image the person will send with a message (checked, stripped of metadata, stored in R2). */
  async uploadImage(who: Identity, bytes: Uint8Array) {
    return this.#asUser(who, async () => {
      const { id, url, alt } = await storeImage(this.env.IMAGES, who.userId, bytes, { alt: "image you shared" });
      return { id, url, alt };
    });
  }

  /** HTTP chat, finished: waits for the whole reply (and for the replies queued before it). */
  async chatComplete(who: Identity, input: { id?: unknown; text: unknown; images?: unknown }): Promise<RpcResult<ReplyResult>> {
    return this.#asUser(who, async () => {
      const result = await (await this.chat.send({ clientId: input.id, text: input.text, channel: "http", images: input.images })).result;
      // A message refused when its turn came (the budget ran out while it waited) is a 429 like any refusal.
      if (result.error?.code === "budget_exceeded" && result.status === "error") throw budgetExceeded(dailyBudget(this.#requireProfile().tier, this.config));
      return result;
    });
  }

  /** HTTP chat, streamed: the API.md events as Server-Sent Events. */
  async chatStream(who: Identity, input: { id?: unknown; text: unknown; images?: unknown }): Promise<RpcResult<ReadableStream<Uint8Array>>> {
    return this.#asUser(who, async () => {
      const stream = sseStream();
      const started = await this.chat.send({ clientId: input.id, text: input.text, channel: "http", images: input.images }, { listener: stream.listener });
      void started.result.finally(() => stream.close());
      return stream.readable;
    });
  }

  async usage(who: Identity, days: number): Promise<RpcResult<{ days: DayUsage[] }>> {
    return this.#asUser(who, () => ({ days: usageDays(this.sql, days) }));
  }

  // ---- RPC: Fly --------------------------------------------------------------------------------

  async flyStatus(who: Identity): Promise<RpcResult<FlyStatus>> {
    return this.#asUser(who, () => this.fly.status());
  }

  async flyProvision(who: Identity): Promise<RpcResult<FlyStatus>> {
    return this.#asUser(who, () => {
      requirePublicUrl(this.env, "http://127.0.0.1:8787");
      return this.fly.provision();
    });
  }

  async flySync(who: Identity) {
    return this.#asUser(who, () => this.fly.sync());
  }

  async flyDelete(who: Identity): Promise<RpcResult<FlyStatus>> {
    return this.#asUser(who, () => this.fly.deleteApp());
  }

  /** The model gateway: one Anthropic Messages call answered with Bedrock, budgeted and recorded. */
  async containerModel(grant: GatewayGrant, body: unknown, beta: string | null): Promise<RpcResult<GatewayAnswer>> {
    return this.#asContainer(grant, () => this.gateway.call(body, { beta }));
  }

  /**
   * The container's write-back of a file its agent changed (its gateway token verified by the
   * Worker). `ifMatch`: the ETag the container last saw. When the file moved on meanwhile (the user
   * edited it), the user's text stays current and the agent's is kept among the versions: 409.
   */
  async containerWrite(grant: GatewayGrant, name: string, content: string, preconditions: { ifMatch?: string; ifNoneMatch?: string } = {}) {
    return this.#asContainer(grant, () => this.workspace.writeFromContainer(name, content, preconditions));
  }

  /** Every workspace file with its content, and the version (ETag) the container compares. */
  async containerWorkspace(grant: GatewayGrant) {
    return this.#asContainer(grant, () => this.workspace.forContainer());
  }

  /** Saves the container's state archive (OpenClaw's sessions, memory notes, cron) as a new version. */
  async containerSaveState(grant: GatewayGrant, bytes: ArrayBuffer, ifMatch?: string): Promise<RpcResult<StateMeta>> {
    return this.#asContainer(grant, () => this.life.states.save(grant.userId, bytes, ifMatch));
  }

  /** The newest state archive, or null when there is none (a first boot). */
  async containerLoadState(grant: GatewayGrant) {
    return this.#asContainer(grant, () => this.life.states.read());
  }

  /** The container's scheduled jobs changed: keep them and arm the wake before the earliest. */
  async containerSchedule(grant: GatewayGrant, body: Record<string, unknown>): Promise<RpcResult<ScheduleView>> {
    return this.#asContainer(grant, () => this.life.replaceSchedule(body));
  }

  /** The user's view: the container's upcoming jobs (the status panel lists them). */
  async scheduledJobs(who: Identity) {
    return this.#asUser(who, () => this.life.view());
  }

  /** A Bot API call from the container, made with the user's bot (API.md, "Telegram through the Worker"). */
  async containerTelegram(grant: GatewayGrant, call: ContainerBotCall): Promise<RpcResult<BotApiReply>> {
    return this.#asContainer(grant, async () => {
      const { status, text } = await this.telegram.containerCall(call);
      return { status, text };
    });
  }

  /** A file of the user's bot, for the container's Telegram channel (photos it reads, issue 18). */
  async containerTelegramFile(grant: GatewayGrant, path: string): Promise<RpcResult<DownloadedFile>> {
    return this.#asContainer(grant, () => this.telegram.containerFile(path));
  }

  // ---- RPC: Telegram ---------------------------------------------------------------------------

  /** `origin`: this Worker's origin, for the webhook URL when PUBLIC_URL is not set. */
  async telegramClaim(who: Identity, botToken?: string, origin?: string) {
    return this.#asUser(who, () => this.telegram.claim(botToken, botPool(this.env), origin));
  }

  async telegramRelease(who: Identity) {
    return this.#asUser(who, async () => {
      await this.telegram.release(botPool(this.env));
      return null;
    });
  }

  /** The operator removes pool bot `botId`: this user lets go of it first (no Identity: an admin call). */
  async telegramReleasePoolBot(botId: number) {
    return capture(async () => {
      if (readProfile(this.sql)) await this.telegram.release(botPool(this.env), botId);
      return null;
    });
  }

  /** A webhook delivery: no Identity, the per-bot secret is the credential (401 for an object without a claim). */
  async telegramUpdate(userId: string, secret: string, update: unknown) {
    return capture(async () => {
      if (readProfile(this.sql)?.userId !== userId) throw new HttpError(401, "unauthorized", "The secret token does not match this webhook.");
      await this.telegram.receiveUpdate(secret, update);
      this.life.wakeInBackground("telegram");
      return null;
    });
  }

  // ---- internals -----------------------------------------------------------------------------

  /** Every user-facing RPC: record who owns the object (first contact), then run; errors as data. */
  #asUser<T>(who: Identity, fn: () => T | Promise<T>): Promise<RpcResult<T>> {
    return capture(async () => {
      refuseWhileDeleting(this.jobs);
      await this.#identify(who);
      return fn();
    });
  }

  /**
   * Every container RPC: the Worker verified the token's HMAC; here it must also be the token this
   * object issued last (a bumped epoch or a deleted app revokes it).
   */
  #asContainer<T>(grant: GatewayGrant, fn: () => T | Promise<T>): Promise<RpcResult<T>> {
    return capture(async () => {
      if (readProfile(this.sql)?.userId !== grant.userId || deletionPending(this.jobs) || !(await this.fly.acceptsGatewayToken(grant.token))) {
        throw new HttpError(401, "unauthorized", "This gateway token has been revoked or belongs to no container of this user.");
      }
      await this.#ensureUserHash();
      return fn();
    });
  }

  #deletionHost(): DeletionHost {
    return {
      jobs: this.jobs,
      images: this.env.IMAGES,
      userId: () => this.#requireProfile().userId,
      flyState: () => this.fly.state(),
      deleteFlyApp: () => this.fly.deleteApp(),
      releaseTelegram: () => this.telegram.release(botPool(this.env)),
      quiesce: () => {
        for (const reply of this.chat.pending()) this.chat.cancel(reply.id);
        // Everything but a Fly deletion already under way, which the account deletion waits for.
        for (const row of this.sql.all<{ kind: string }>("SELECT kind FROM jobs")) if (row.kind !== FLY_JOBS.delete) this.jobs.cancel(row.kind);
        for (const ws of this.ctx.getWebSockets()) {
          try {
            ws.close(4001, "account deleted");
          } catch {
            // already closing
          }
        }
      },
      wipeStorage: async () => {
        await this.ctx.storage.deleteAlarm();
        await this.ctx.storage.deleteAll();
        // This instance lives on: give it the empty schema a new object would have.
        migrate(this.sql, this.ctx.storage, USER_MIGRATIONS);
      },
      pollMs: this.config.fly.jobBackoffBaseMs,
    };
  }

  async #ensureUserHash(): Promise<void> {
    const profile = readProfile(this.sql);
    if (profile) this.#userHash ??= await userLogHash(this.env, profile.userId);
  }

  /** Records who this object belongs to on first contact, seeding the starter workspace. */
  async #identify(who: Identity): Promise<Profile> {
    this.#userHash ??= await userLogHash(this.env, who.userId);
    const existing = readProfile(this.sql);
    if (existing) return ensureProfile(this.sql, who).profile;
    // First contact: hashing the starter files awaits, and a second request arriving meanwhile must
    // not see a half-seeded workspace, so nothing else runs until the user exists completely.
    return this.ctx.blockConcurrencyWhile(async () => {
      const { profile, created } = ensureProfile(this.sql, who);
      if (created) await this.workspace.seedStarterFiles();
      return profile;
    });
  }

  #bedrock(): BedrockRuntimeClient {
    return (this.#bedrockClient ??= createBedrockClient(this.env, this.config, () => this.meter.count("bedrock")));
  }

  #requireProfile(): Profile {
    const profile = readProfile(this.sql);
    if (!profile) throw new HttpError(404, "unknown_user", "This user has not signed in yet.");
    return profile;
  }

  async #describeMe(): Promise<Me> {
    const fly = this.fly.state() === "none" ? { state: "none" as const } : await this.fly.status();
    return buildMe(this.#requireProfile(), this.sql, { mode: this.container.route(), fly, telegram: this.telegram.status() });
  }

  #helloFrame(): ChatFrame {
    const profile = this.#requireProfile();
    return { type: "hello", userId: profile.userId, tier: profile.tier, mode: this.container.route(), fly: { state: this.fly.state() }, pending: this.chat.pending() };
  }
}
