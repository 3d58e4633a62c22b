/**
 * The four jobs of the Fly work on the object's scheduler: `fly_provision` (one step per run),
 * `fly_sync` (debounced after a change), `fly_reconcile` (periodic drift repair) and `fly_delete`.
 * Each run reads the state row first and stops quietly when a delete (a new epoch) overtook it.
 */
import { logSafe, RetryLaterError, UpstreamError } from "../errors.ts";
import type { JobDefinition, JobOutcome, JobRun } from "../jobs.ts";
import { StaleRunError, type FlyContext } from "./fly-context.ts";
import { isProvisionStep, nextStep, type Provisioner, ProvisionRefusedError, type ProvisionStep } from "./provisioner.ts";
import { AppGoneError, type Syncer, type SyncResult } from "./sync.ts";

/** The job kinds this service runs on the object's scheduler. */
export const FLY_JOBS = {
  provision: "fly_provision",
  sync: "fly_sync",
  reconcile: "fly_reconcile",
  delete: "fly_delete",
} as const;

export class FlyJobs {
  constructor(
    private readonly ctx: FlyContext,
    private readonly provisioner: Provisioner,
    private readonly syncer: Syncer,
  ) {}

  /** Defines the four job kinds on the object's scheduler; `exclusive` serialises them with requests. */
  define(exclusive: <T>(work: () => Promise<T>) => Promise<T>): void {
    const tuning = this.ctx.tuning;
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
    const jobs = this.ctx.object.jobs;
    jobs.define(
      FLY_JOBS.provision,
      tuned("provisionMaxAttempts", {
        run: (job) => exclusive(() => this.runProvisionStep(job)),
        onGiveUp: (_job, error) => this.giveUpProvisioning(error),
      }),
    );
    jobs.define(
      FLY_JOBS.sync,
      tuned("syncMaxAttempts", {
        run: () => exclusive(() => this.runSync()).then(() => undefined),
        // The periodic reconcile sends whatever the sync could not.
        onGiveUp: (_job, error) => console.warn(JSON.stringify({ event: "fly_sync_gave_up", error: logSafe(error) })),
      }),
    );
    jobs.define(
      FLY_JOBS.reconcile,
      tuned("syncMaxAttempts", {
        run: () => exclusive(() => this.runReconcile()),
        onGiveUp: () => jobs.schedule(FLY_JOBS.reconcile, tuning.reconcileEveryMs),
      }),
    );
    jobs.define(
      FLY_JOBS.delete,
      tuned("deleteMaxAttempts", {
        run: () => exclusive(() => this.runDelete()),
        onGiveUp: (_job, error) => this.giveUpDeleting(error),
      }),
    );
  }

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
        this.ctx.object.jobs.cancel(FLY_JOBS.provision);
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
    await this.ctx.object.jobs.schedule(FLY_JOBS.sync, 0);
    await this.ctx.object.jobs.schedule(FLY_JOBS.reconcile, this.ctx.tuning.reconcileEveryMs, undefined, "replace");
  }

  private async giveUpProvisioning(error: unknown): Promise<void> {
    if (this.ctx.store.read().state !== "provisioning") return;
    this.fail(describe(error));
  }

  private fail(message: string): void {
    this.ctx.store.patch({ state: "failed", lastError: message });
    this.ctx.progress(message);
  }

  /** A sync now, when the app is ready; StaleRunError and a vanished app end it quietly. */
  async runSync(): Promise<SyncResult> {
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
    return { rerunInMs: this.ctx.tuning.reconcileEveryMs };
  }

  async reconcileApp(app: string, epoch: number): Promise<string[]> {
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
    this.ctx.object.jobs.cancel(FLY_JOBS.reconcile);
    await this.ctx.object.jobs.schedule(FLY_JOBS.provision, 0);
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
        if (await this.appIsOurs(record.app)) throw new RetryLaterError("The Fly app is still being deleted.");
      }
    }
    this.ctx.assertEpoch(record.epoch);
    this.ctx.store.clearApp();
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
}

function describe(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).slice(0, 300);
}
