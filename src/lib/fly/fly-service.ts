/**
 * The Fly part of a user's object: the facade the actor calls (status, provision, sync, delete,
 * the workspace and Telegram hooks, the gateway token) and the four jobs it runs on the object's
 * scheduler. All work that changes Fly runs one piece at a time (`exclusive`), whether it came
 * from the alarm or from a request, so a sync never races a delete.
 */
import { HttpError, logSafe, UnreachableError, UpstreamError } from "../errors.ts";
import { requireSecret } from "../config.ts";
import { encryptSecret, randomToken, timingSafeEqualStr } from "../crypto.ts";
import type { JobDefinition, JobOutcome, JobRun } from "../jobs.ts";
import { FlyContext, StaleRunError, type FlyHost } from "./fly-context.ts";
import { loadFlyTuning, type FlyTuning } from "./fly-settings.ts";
import type { FlyState } from "./fly-store.ts";
import { isLive, isProvisionStep, nextStep, Provisioner, ProvisionRefusedError, type ProvisionStep } from "./provisioner.ts";
import { isAgentMachine } from "./machine-config.ts";
import { AppGoneError, Syncer, type SyncResult } from "./sync.ts";

export type { FlyHost } from "./fly-context.ts";
export type { FlyState } from "./fly-store.ts";

/** The job kinds this service runs on the object's scheduler. */
export const FLY_JOBS = {
  provision: "fly_provision",
  sync: "fly_sync",
  reconcile: "fly_reconcile",
  delete: "fly_delete",
} as const;

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

export interface FlyServiceOptions {
  /** Overrides of the timing knobs (tests). */
  tuning?: Partial<FlyTuning>;
  fetch?: typeof fetch;
}

export class FlyService {
  readonly tuning: FlyTuning;
  private readonly ctx: FlyContext;
  private readonly provisioner: Provisioner;
  private readonly syncer: Syncer;
  private queue: Promise<unknown> = Promise.resolve();
  private machinesFetchedAt = 0;
  private machinesFetch: Promise<void> | null = null;

  constructor(
    private readonly host: FlyHost,
    options: FlyServiceOptions = {},
  ) {
    this.tuning = { ...loadFlyTuning(host.env), ...options.tuning };
    this.ctx = new FlyContext(host, this.tuning, options.fetch);
    this.provisioner = new Provisioner(this.ctx);
    this.syncer = new Syncer(this.ctx);
  }

  /** Job kinds this service runs on the scheduler: fly_provision, fly_sync, fly_reconcile, fly_delete. */
  defineJobs(): void {
    const tuning = this.tuning;
    // Getters, so adjusting `tuning` on a live instance (tests) changes attempts and backoff too.
    const tuned = (maxKey: "provisionMaxAttempts" | "syncMaxAttempts" | "deleteMaxAttempts", def: Pick<JobDefinition, "run" | "onGiveUp">): JobDefinition => ({
      ...def,
      get maxAttempts() {
        return tuning[maxKey];
      },
      get backoffBaseMs() {
        return tuning.jobBackoffBaseMs;
      },
      get backoffCapMs() {
        return tuning.jobBackoffCapMs;
      },
    });
    const jobs = this.host.jobs;
    jobs.define(
      FLY_JOBS.provision,
      tuned("provisionMaxAttempts", {
        run: (job) => this.exclusive(() => this.runProvisionStep(job)),
        onGiveUp: (_job, error) => this.giveUpProvisioning(error),
      }),
    );
    jobs.define(
      FLY_JOBS.sync,
      tuned("syncMaxAttempts", {
        run: () => this.exclusive(() => this.runSync()).then(() => undefined),
        // The periodic reconcile sends whatever the sync could not.
        onGiveUp: (_job, error) => console.warn(JSON.stringify({ event: "fly_sync_gave_up", error: logSafe(error) })),
      }),
    );
    jobs.define(
      FLY_JOBS.reconcile,
      tuned("syncMaxAttempts", {
        run: () => this.exclusive(() => this.runReconcile()),
        onGiveUp: () => jobs.schedule(FLY_JOBS.reconcile, tuning.reconcileEveryMs),
      }),
    );
    jobs.define(
      FLY_JOBS.delete,
      tuned("deleteMaxAttempts", {
        run: () => this.exclusive(() => this.runDelete()),
        onGiveUp: (_job, error) => this.giveUpDeleting(error),
      }),
    );
  }

  state(): FlyState {
    return this.ctx.store.read().state;
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

  /** Constant time: the container's write-back authenticates with this token. */
  async verifyGatewayToken(token: string): Promise<boolean> {
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
      record.state === "provisioning" ? this.host.jobs.get(FLY_JOBS.provision) : record.state === "deleting" ? this.host.jobs.get(FLY_JOBS.delete) : null;
    const sha256 = await this.host.workspace.digest();
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
        pendingSync: this.host.jobs.get(FLY_JOBS.sync) !== null || (record.state === "ready" && record.syncedDigest !== sha256),
      },
    };
  }

  /** Paid tier only. Idempotent: ready stays ready, a running provisioning goes on, a failed one resumes at its step. */
  async provision(): Promise<FlyStatus> {
    if (this.host.tier() !== "paid") {
      throw new HttpError(403, "paid_tier_required", "Your own agent container is part of the paid tier. Upgrade to provision it.");
    }
    requireSecret(this.host.env, "FLY_API_TOKEN");
    const key = requireSecret(this.host.env, "ENCRYPTION_KEY");
    const record = this.ctx.store.read();
    if (record.state === "deleting") {
      throw new HttpError(409, "fly_app_deleting", "Your Fly app is being deleted. Provision again once its state is none.");
    }
    if (record.state === "ready") return this.status();
    if (record.state === "provisioning") {
      if (!this.host.jobs.get(FLY_JOBS.provision)) await this.host.jobs.schedule(FLY_JOBS.provision, 0);
      return this.status();
    }
    const gatewayToken = record.gatewayToken ?? (await encryptSecret(key, randomToken(32)));
    this.ctx.store.patch({
      state: "provisioning",
      // A failed provisioning resumes at the step that failed.
      step: record.state === "failed" && isProvisionStep(record.step) ? record.step : "create_app",
      app: record.app ?? this.ctx.appName(),
      region: record.region ?? this.ctx.config.flyRegion,
      lastError: null,
      gatewayToken,
      epoch: record.epoch + 1,
    });
    await this.host.jobs.schedule(FLY_JOBS.provision, 0);
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
      return await this.exclusive(() => this.runSync());
    } catch (err) {
      // Fly is busy or away: the job retries with backoff, and the caller gets a 202.
      if (err instanceof UpstreamError || err instanceof UnreachableError || err instanceof StaleRunError || err instanceof AppGoneError) {
        if (this.ctx.store.read().state === "ready") await this.host.jobs.schedule(FLY_JOBS.sync, this.tuning.jobBackoffBaseMs);
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
    for (const kind of [FLY_JOBS.provision, FLY_JOBS.sync, FLY_JOBS.reconcile]) this.host.jobs.cancel(kind);
    await this.host.jobs.schedule(FLY_JOBS.delete, 0);
    this.ctx.progress();
    return this.status();
  }

  /** A workspace file changed: a debounced sync, when there is an app to sync to. */
  async onWorkspaceChanged(): Promise<void> {
    // While provisioning, the last step schedules a sync that picks up whatever changed meanwhile.
    if (this.ctx.store.read().state !== "ready") return;
    await this.host.jobs.schedule(FLY_JOBS.sync, this.tuning.syncDebounceMs, undefined, "replace");
  }

  /** The Telegram secrets follow the claim: the sync sets or unsets them. */
  async onTelegramChanged(): Promise<void> {
    if (this.ctx.store.read().state !== "ready") return;
    await this.host.jobs.schedule(FLY_JOBS.sync, 0);
  }

  /** Runs a reconcile now (tests, operators); returns what it repaired. */
  reconcile(): Promise<string[]> {
    return this.exclusive(async () => {
      const record = this.ctx.store.read();
      if (record.state !== "ready" || !record.app) return [];
      return this.reconcileApp(record.app, record.epoch);
    });
  }

  // --- jobs ---

  private async runProvisionStep(job: JobRun): Promise<JobOutcome> {
    const record = this.ctx.store.read();
    if (record.state !== "provisioning") return; // a delete won, or it is done
    const step: ProvisionStep = isProvisionStep(record.step) ? record.step : "create_app";
    try {
      await this.provisioner.run(step, record.epoch, job.attempts);
      this.ctx.assertEpoch(record.epoch);
    } catch (err) {
      if (err instanceof StaleRunError || this.ctx.store.read().epoch !== record.epoch) return;
      if (err instanceof ProvisionRefusedError) {
        this.host.jobs.cancel(FLY_JOBS.provision);
        this.fail(err.message);
        return;
      }
      this.ctx.store.patch({ lastError: describe(err) });
      this.ctx.progress(`${step} failed, retrying: ${describe(err)}`);
      throw err;
    }
    const next = nextStep(step);
    if (next) {
      this.ctx.store.patch({ step: next, lastError: null });
      this.ctx.progress();
      return { rerunInMs: 0 };
    }
    this.ctx.store.patch({ state: "ready", step: null, lastError: null });
    this.ctx.progress();
    // Whatever changed while provisioning, and the periodic drift check from now on.
    await this.host.jobs.schedule(FLY_JOBS.sync, 0);
    await this.host.jobs.schedule(FLY_JOBS.reconcile, this.tuning.reconcileEveryMs, undefined, "replace");
  }

  private async giveUpProvisioning(error: unknown): Promise<void> {
    if (this.ctx.store.read().state !== "provisioning") return;
    this.fail(describe(error));
  }

  private fail(message: string): void {
    this.ctx.store.patch({ state: "failed", lastError: message });
    this.ctx.progress(message);
  }

  private async runSync(): Promise<SyncResult> {
    const record = this.ctx.store.read();
    if (record.state !== "ready" || !record.app) return { changed: [], machinesUpdated: 0 };
    try {
      const result = await this.syncer.sync(record.app, record.epoch);
      if (result.changed.length > 0 || result.machinesUpdated > 0) this.ctx.progress(`synced ${result.changed.join(", ") || "settings"}`);
      return result;
    } catch (err) {
      if (err instanceof StaleRunError) return { changed: [], machinesUpdated: 0 };
      if (err instanceof AppGoneError) {
        await this.reprovisionGoneApp();
        return { changed: [], machinesUpdated: 0 };
      }
      throw err;
    }
  }

  private async runReconcile(): Promise<JobOutcome> {
    const record = this.ctx.store.read();
    if (record.state !== "ready" || !record.app) return;
    await this.reconcileApp(record.app, record.epoch);
    return { rerunInMs: this.tuning.reconcileEveryMs };
  }

  private async reconcileApp(app: string, epoch: number): Promise<string[]> {
    try {
      const repaired = await this.syncer.reconcile(app, epoch);
      if (repaired.length > 0) {
        console.log(JSON.stringify({ event: "fly_reconciled", repaired }));
        this.ctx.progress(`repaired ${repaired.join(", ")}`);
      }
      return repaired;
    } catch (err) {
      if (err instanceof StaleRunError) return [];
      if (err instanceof AppGoneError) {
        await this.reprovisionGoneApp();
        return ["app:gone"];
      }
      throw err;
    }
  }

  /** The app vanished behind our back (deleted by hand): build it again from the first step. */
  private async reprovisionGoneApp(): Promise<void> {
    const record = this.ctx.store.read();
    this.ctx.store.refreshMachines([]);
    this.ctx.store.forgetSecrets();
    this.ctx.store.patch({ state: "provisioning", step: "create_app", secretsVersion: null, lastError: "The Fly app was gone; building it again.", epoch: record.epoch + 1 });
    this.host.jobs.cancel(FLY_JOBS.reconcile);
    await this.host.jobs.schedule(FLY_JOBS.provision, 0);
    this.ctx.progress();
  }

  private async runDelete(): Promise<JobOutcome> {
    const record = this.ctx.store.read();
    if (record.state !== "deleting") return;
    if (record.app) {
      const client = this.ctx.client();
      if (await this.appIsOurs(record.app)) {
        await client.deleteApp(record.app, true);
        this.ctx.assertEpoch(record.epoch);
        // Deletion is asynchronous on Fly (202): done only when the app is no longer there.
        if (await this.appIsOurs(record.app)) throw new Error("The Fly app is still being deleted.");
      }
    }
    this.ctx.assertEpoch(record.epoch);
    this.ctx.store.clearApp();
    this.machinesFetchedAt = 0;
    this.ctx.progress();
  }

  /** A 403 means the name belongs to another org: never ours to delete (a refused provisioning). */
  private async appIsOurs(app: string): Promise<boolean> {
    try {
      return (await this.ctx.client().getApp(app)) !== null;
    } catch (err) {
      if (err instanceof UpstreamError && err.status === 403) return false;
      throw err;
    }
  }

  private giveUpDeleting(error: unknown): void {
    if (this.ctx.store.read().state !== "deleting") return;
    // Failed, with the app kept: deleting again (or provisioning) picks it up.
    this.fail(`Deleting the Fly app failed: ${describe(error)}`);
  }

  // --- helpers ---

  /** Machine states for `status()`: fresh from Fly, but at most one list call per `statusCacheMs`. */
  private async refreshMachineStates(): Promise<void> {
    const record = this.ctx.store.read();
    if (!record.app || record.state === "none" || record.state === "deleting") return;
    if (record.state !== "ready" && this.ctx.store.machines().length === 0) return;
    if (Date.now() - this.machinesFetchedAt < this.tuning.statusCacheMs) return;
    this.machinesFetch ??= (async () => {
      try {
        const userId = this.host.userId();
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
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

function describe(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).slice(0, 300);
}
