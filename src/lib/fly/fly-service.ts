/**
 * The Fly part of a user's object: the facade the actor calls (status, provision, sync, delete,
 * the workspace and Telegram hooks, the gateway token). Its jobs live in fly-jobs.ts. All work that changes Fly runs one piece at a time (`exclusive`), whether it came
 * from the alarm or from a request, so a sync never races a delete.
 */
import { HttpError, logSafe, UnreachableError, UpstreamError } from "../errors.ts";
import { requireContainerImage, requireSecret } from "../config.ts";
import { timingSafeEqualStr } from "../crypto.ts";
import type { ObjectContext } from "../object-context.ts";
import type { Workspace } from "../workspace.ts";
import { SerialQueue } from "../serial-queue.ts";
import { FlyContext, StaleRunError } from "./fly-context.ts";
import { FLY_JOBS, FlyJobs } from "./fly-jobs.ts";
import type { FlyState } from "./fly-store.ts";
import { isAgentMachine } from "./machine-config.ts";
import { isLive, isProvisionStep, Provisioner, type ProvisionStep } from "./provisioner.ts";
import { AppGoneError, Syncer, type SyncResult } from "./sync.ts";

export { FLY_JOBS } from "./fly-jobs.ts";
export type { FlyState } from "./fly-store.ts";


/** `GET /api/fly/status` (API.md). */
export interface FlyStatus {
  state: FlyState;
  step: ProvisionStep | null;
  app: string | null;
  url: string | null;
  region: string | null;
  machines: { id: string; name: string; state: string; region: string }[];
  attempts: number;
  nextRetryAt: string | null;
  lastError: string | null;
  workspace: { sha256: string; syncedSha256: string | null; lastSyncAt: string | null; pendingSync: boolean };
}

export class FlyService {
  private readonly ctx: FlyContext;
  private readonly jobs: FlyJobs;
  private readonly queue = new SerialQueue();
  private machinesFetchedAt = 0;
  private machinesFetch: Promise<void> | null = null;

  constructor(
    private readonly object: ObjectContext,
    workspace: Workspace,
  ) {
    this.ctx = new FlyContext(object, workspace);
    this.jobs = new FlyJobs(this.ctx, new Provisioner(this.ctx), new Syncer(this.ctx));
    // Container write-backs sync too: a machine that stops loses its disk and boots from the secrets
    // (the sync recognises the container's own change and updates only the secret, no reboot).
    object.events.on("workspaceChanged", (change) => (change.source === "starter" ? undefined : this.onWorkspaceChanged()));
    object.events.on("claimChanged", () => this.onTelegramChanged());
  }


  /** Job kinds this service runs on the scheduler: fly_provision, fly_sync, fly_reconcile, fly_delete. */
  defineJobs(): void {
    this.jobs.define((work) => this.exclusive(work));
  }

  state(): FlyState {
    return this.ctx.store.read().state;
  }

  /** The stored record (the data export shows its state, app and region; never the token). */
  store(): { state: FlyState; app: string | null; region: string | null } {
    const { state, app, region } = this.ctx.store.read();
    return { state, app, region };
  }

  /** FLY_APP_URL with {app} filled, while an app exists (not while it is being deleted). */
  appUrl(): string | null {
    const record = this.ctx.store.read();
    return record.app && record.state !== "none" && record.state !== "deleting" ? this.ctx.appUrl(record.app) : null;
  }

  /** The per-user GATEWAY_TOKEN the container checks, decrypted (ENCRYPTION_KEY). */
  gatewayToken(): Promise<string | null> {
    return this.ctx.gatewayToken();
  }

  /**
   * Is this the gateway token this object issued last? The Worker has already checked its HMAC
   * (gateway-token.ts); this refuses a revoked one: an earlier epoch, or any token once the app is gone.
   */
  async acceptsGatewayToken(token: string): Promise<boolean> {
    let mine: string | null = null;
    try {
      mine = await this.gatewayToken();
    } catch (err) {
      console.warn(JSON.stringify({ event: "gateway_token_unreadable", error: logSafe(err) }));
    }
    if (!mine) {
      timingSafeEqualStr(token, token);
      return false;
    }
    return timingSafeEqualStr(token, mine);
  }

  async status(): Promise<FlyStatus> {
    await this.refreshMachineStates();
    const record = this.ctx.store.read();
    const job =
      record.state === "provisioning" ? this.object.jobs.get(FLY_JOBS.provision) : record.state === "deleting" ? this.object.jobs.get(FLY_JOBS.delete) : null;
    const sha256 = await this.ctx.workspace.digest();
    const hasApp = record.app !== null && record.state !== "none";
    return {
      state: record.state,
      step: isProvisionStep(record.step) ? record.step : null,
      app: hasApp ? record.app : null,
      url: hasApp && record.app ? this.ctx.appUrl(record.app) : null,
      region: hasApp ? record.region : null,
      machines: this.ctx.store.machines().map((m) => ({ id: m.id, name: m.name, state: m.state, region: m.region })),
      attempts: job?.attempts ?? 0,
      nextRetryAt: job && job.attempts > 0 ? new Date(job.dueAt).toISOString() : null,
      lastError: record.lastError,
      workspace: {
        sha256,
        syncedSha256: record.syncedDigest,
        lastSyncAt: record.lastSyncAt === null ? null : new Date(record.lastSyncAt).toISOString(),
        pendingSync: this.object.jobs.get(FLY_JOBS.sync) !== null || (record.state === "ready" && record.syncedDigest !== sha256),
      },
    };
  }

  /** Paid tier only. Idempotent: ready stays ready, a running provisioning goes on, a failed one resumes at its step. */
  async provision(): Promise<FlyStatus> {
    if (this.object.owner().tier !== "paid") {
      throw new HttpError(403, "paid_tier_required", "Your own agent container is part of the paid tier. Upgrade to provision it.");
    }
    requireSecret(this.object.env, "FLY_API_TOKEN");
    requireContainerImage(this.object.env);
    const key = requireSecret(this.object.env, "ENCRYPTION_KEY");
    const record = this.ctx.store.read();
    if (record.state === "deleting") {
      throw new HttpError(409, "fly_app_deleting", "Your Fly app is being deleted. Provision again once its state is none.");
    }
    if (record.state === "ready") return this.status();
    if (record.state === "provisioning") {
      if (!this.object.jobs.get(FLY_JOBS.provision)) await this.object.jobs.schedule(FLY_JOBS.provision, 0);
      return this.status();
    }
    const issued = record.gatewayToken ? null : await this.ctx.issueGatewayToken(key);
    this.ctx.store.patch({
      state: "provisioning",
      // A failed provisioning resumes at the step that failed.
      step: record.state === "failed" && isProvisionStep(record.step) ? record.step : "create_app",
      app: record.app ?? this.ctx.appName(),
      region: record.region ?? this.ctx.config.flyRegion,
      lastError: null,
      ...issued,
      epoch: record.epoch + 1,
    });
    await this.object.jobs.schedule(FLY_JOBS.provision, 0);
    this.ctx.progress();
    return this.status();
  }

  /** Pushes the workspace now when the app is ready; otherwise says it is queued for when it is. */
  async sync(): Promise<SyncResult | { queued: true; status: FlyStatus }> {
    const record = this.ctx.store.read();
    if (record.state === "none" || record.state === "deleting" || record.state === "failed") {
      throw new HttpError(409, "fly_app_not_ready", `There is no ready Fly app to sync to (state: ${record.state}). Provision it first.`);
    }
    if (record.state === "provisioning") return { queued: true, status: await this.status() };
    try {
      return await this.exclusive(() => this.jobs.runSync());
    } catch (err) {
      // Fly is busy or away: the job retries with backoff, and the caller gets a 202.
      if (err instanceof UpstreamError || err instanceof UnreachableError || err instanceof StaleRunError || err instanceof AppGoneError) {
        if (this.ctx.store.read().state === "ready") await this.object.jobs.schedule(FLY_JOBS.sync, this.ctx.tuning.jobBackoffBaseMs);
        return { queued: true, status: await this.status() };
      }
      throw err;
    }
  }

  /** State "deleting" at once (the running step notices and stops), then "none" when Fly confirms. */
  async deleteApp(): Promise<FlyStatus> {
    const record = this.ctx.store.read();
    if (record.state === "none" || record.state === "deleting") return this.status();
    this.ctx.store.patch({ state: "deleting", step: null, lastError: null, epoch: record.epoch + 1 });
    for (const kind of [FLY_JOBS.provision, FLY_JOBS.sync, FLY_JOBS.reconcile]) this.object.jobs.cancel(kind);
    await this.object.jobs.schedule(FLY_JOBS.delete, 0);
    this.ctx.progress();
    return this.status();
  }

  /** A workspace file changed: a debounced sync, when there is an app to sync to. */
  private async onWorkspaceChanged(): Promise<void> {
    // While provisioning, the last step schedules a sync that picks up whatever changed meanwhile.
    if (this.ctx.store.read().state !== "ready") return;
    await this.object.jobs.schedule(FLY_JOBS.sync, this.ctx.tuning.syncDebounceMs, undefined, "replace");
  }

  /** The Telegram secrets follow the claim: the sync sets or unsets them. */
  private async onTelegramChanged(): Promise<void> {
    if (this.ctx.store.read().state !== "ready") return;
    await this.object.jobs.schedule(FLY_JOBS.sync, 0);
  }

  /**
   * Wakes the app's machine through the Machines API for a scheduled job (issue 15): "started" when
   * a stopped or suspended agent machine was started, "up" when one is started or starting already,
   * "busy" when one is on its way down or being replaced (look again shortly), "none" when there is
   * no ready app or no machine. Fly's errors are thrown (the caller falls back to Fly's proxy).
   */
  wakeMachine(): Promise<"started" | "up" | "busy" | "none"> {
    return this.exclusive(async () => {
      const record = this.ctx.store.read();
      if (record.state !== "ready" || !record.app) return "none";
      const userId = this.object.owner().userId;
      const live = (await this.ctx.client().listMachines(record.app)).filter((m) => isLive(m) && isAgentMachine(m, userId));
      if (this.ctx.store.read().epoch === record.epoch) this.ctx.store.refreshMachines(live);
      this.machinesFetchedAt = Date.now();
      if (live.length === 0) return "none";
      if (live.some((m) => m.state === "started" || m.state === "starting")) return "up";
      const asleep = live.find((m) => m.state === "stopped" || m.state === "suspended");
      if (!asleep) return "busy";
      // One machine runs the agent; starting it resumes a suspended one from its snapshot.
      await this.ctx.client().startMachine(record.app, asleep.id);
      console.log(JSON.stringify({ event: "container_wake", reason: "schedule", via: "machines_api", from: asleep.state }));
      return "started";
    });
  }

  /** Runs a reconcile now (tests, operators); returns what it repaired. */
  reconcile(): Promise<string[]> {
    return this.exclusive(async () => {
      const record = this.ctx.store.read();
      if (record.state !== "ready" || !record.app) return [];
      return this.jobs.reconcileApp(record.app, record.epoch);
    });
  }

  // --- helpers ---

  /** Machine states for `status()`: fresh from Fly, but at most one list call per `statusCacheMs`. */
  private async refreshMachineStates(): Promise<void> {
    const record = this.ctx.store.read();
    if (!record.app || record.state === "none" || record.state === "deleting") return;
    if (record.state !== "ready" && this.ctx.store.machines().length === 0) return;
    if (Date.now() - this.machinesFetchedAt < this.ctx.tuning.statusCacheMs) return;
    this.machinesFetch ??= (async () => {
      try {
        const userId = this.object.owner().userId;
        const live = (await this.ctx.client().listMachines(record.app ?? "")).filter((m) => isLive(m) && isAgentMachine(m, userId));
        if (this.ctx.store.read().epoch === record.epoch) this.ctx.store.refreshMachines(live);
      } catch (err) {
        // The last known states are shown instead; status must not fail because Fly is slow.
        console.warn(JSON.stringify({ event: "fly_status_refresh_failed", error: logSafe(err) }));
      } finally {
        this.machinesFetchedAt = Date.now();
        this.machinesFetch = null;
      }
    })();
    await this.machinesFetch;
  }

  /** Runs Fly-changing work one piece at a time, in order of arrival. */
  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    return this.queue.run(work);
  }
}
