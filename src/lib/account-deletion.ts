/**
 * `DELETE /api/me`: a person's data goes, all of it. The request marks the account as being
 * deleted (the `account_delete` job), closes the user's sockets and starts the Fly deletion saga;
 * the job then waits for the saga, releases the Telegram bot, removes the R2 images and clears the
 * object's storage (`deleteAll`, alarm cancelled). A later sign-in starts a new, empty account.
 * While the job is pending, every user request gets 409 `account_deleting`.
 */
import { HttpError } from "./errors.ts";
import { imageKey } from "./chat/tools.ts";
import { statePrefix } from "./container/container-state.ts";
import type { JobScheduler } from "./jobs.ts";

export const ACCOUNT_DELETE_JOB = "account_delete";

export interface DeletionHost {
  jobs: JobScheduler;
  images: R2Bucket;
  userId(): string;
  /** The Fly app's state, and starting (or restarting) its deletion saga. */
  flyState(): string;
  deleteFlyApp(): Promise<unknown>;
  releaseTelegram(): Promise<void>;
  /** Stops replies and jobs, closes sockets. */
  quiesce(): void;
  /** `deleteAll` + alarm cancelled; the object is then as new. */
  wipeStorage(): Promise<void>;
  /** How long to wait before looking at the saga again. */
  pollMs: number;
}

export function deletionPending(jobs: JobScheduler): boolean {
  return jobs.get(ACCOUNT_DELETE_JOB) !== null;
}

export function refuseWhileDeleting(jobs: JobScheduler): void {
  if (deletionPending(jobs)) throw new HttpError(409, "account_deleting", "This account is being deleted. Sign in again in a minute to start a new, empty one.");
}

/** Checks the confirmation and starts the deletion. */
export async function requestDeletion(host: DeletionHost, email: string, confirm: unknown): Promise<{ deleting: true }> {
  if (typeof confirm !== "string" || confirm.trim().toLowerCase() !== email) {
    throw new HttpError(400, "confirmation_mismatch", 'To delete your account, send { "confirm": "<your email address>" }, exactly the email you sign in with.');
  }
  if (deletionPending(host.jobs)) return { deleting: true };
  host.quiesce();
  await host.jobs.schedule(ACCOUNT_DELETE_JOB, 0);
  if (host.flyState() !== "none") await host.deleteFlyApp();
  console.log(JSON.stringify({ event: "account_delete_requested" }));
  return { deleting: true };
}

export function defineDeletionJob(host: DeletionHost): void {
  host.jobs.define(ACCOUNT_DELETE_JOB, {
    maxAttempts: 40,
    backoffBaseMs: host.pollMs,
    backoffCapMs: 10 * 60_000,
    // Never abandon a deletion: try again in an hour.
    onGiveUp: () => host.jobs.schedule(ACCOUNT_DELETE_JOB, 3600_000),
    run: async () => {
      const fly = host.flyState();
      if (fly === "deleting") return { rerunInMs: host.pollMs };
      if (fly !== "none") {
        // The saga gave up (or something provisioned meanwhile): start it again.
        await host.deleteFlyApp();
        return { rerunInMs: host.pollMs };
      }
      await host.releaseTelegram();
      await deleteImages(host.images, host.userId());
      await deletePrefix(host.images, statePrefix(host.userId()));
      await host.wipeStorage();
      console.log(JSON.stringify({ event: "account_deleted" }));
    },
  });
}

async function deleteImages(images: R2Bucket, userId: string): Promise<void> {
  await deletePrefix(images, imageKey(userId, "").replace(/\.png$/, ""));
}

/** Every R2 object under `prefix` (the bucket holds images and the container's saved state). */
async function deletePrefix(images: R2Bucket, prefix: string): Promise<void> {
  for (;;) {
    const page = await images.list({ prefix, limit: 1000 });
    if (page.objects.length === 0) return;
    await images.delete(page.objects.map((o) => o.key));
    if (!page.truncated) return;
  }
}
