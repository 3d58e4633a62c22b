/**
 * Keeps OpenClaw's state (sessions, memory notes, cron) alive across machines (issue 15): restored
 * from the Worker at boot, before OpenClaw starts (so /health cannot turn 200 on an empty state),
 * and saved back as one archive when it changed — debounced (quiet for `debounceMs`, checked every
 * `pollMs`) and once more at shutdown, after OpenClaw has stopped writing.
 *
 *   GET {callback}/api/container/state   → the newest archive (404: none yet)
 *   PUT {callback}/api/container/state   ← application/gzip, ≤ 20 MB
 *
 * One machine runs per user (FLY_MAX_MACHINES=1), so the last save wins.
 */
import { workerFetcher } from "./worker-link.ts";
import { packState, stateFingerprint, unpackState } from "./state-archive.ts";

export const MAX_STATE_BYTES = 20 * 1024 * 1024;

export interface StateSyncOptions {
  stateDir: string;
  callbackUrl: string;
  userId: string;
  gatewayToken: string;
  debounceMs?: number;
  pollMs?: number;
  fetcher?: typeof fetch;
  log?: (line: string) => void;
}

export interface RestoreResult {
  restored: boolean;
  files: number;
  bytes: number;
  ms: number;
}

export class StateSync {
  readonly saves: { at: number; status: number | "error"; bytes: number }[] = [];
  private lastSavedPrint: string | null = null;
  private changedPrint: string | null = null;
  private changedAt = 0;
  private timer: ReturnType<typeof setInterval> | null = null;
  private saving: Promise<void> | null = null;
  private readonly o: Required<Omit<StateSyncOptions, "fetcher" | "log">> & { log: (line: string) => void };
  private readonly worker: ReturnType<typeof workerFetcher>;

  constructor(options: StateSyncOptions) {
    const { fetcher: _fetcher, ...rest } = options;
    this.o = {
      ...rest,
      debounceMs: options.debounceMs ?? 10_000,
      pollMs: options.pollMs ?? 5_000,
      log: options.log ?? (() => {}),
    };
    this.worker = workerFetcher(options);
  }

  /** Lays the newest saved state into the state directory. A failure is logged: the boot goes on. */
  async restore(): Promise<RestoreResult> {
    const t0 = Date.now();
    try {
      const response = await this.worker("/api/container/state", { signal: AbortSignal.timeout(60_000) });
      if (response.status === 404) {
        await response.body?.cancel();
        this.o.log("state: nothing saved yet; starting fresh");
        this.lastSavedPrint = stateFingerprint(this.o.stateDir);
        return { restored: false, files: 0, bytes: 0, ms: Date.now() - t0 };
      }
      if (!response.ok) {
        await response.body?.cancel();
        this.o.log(`state: restore answered ${response.status}; starting with what is on disk`);
        return { restored: false, files: 0, bytes: 0, ms: Date.now() - t0 };
      }
      const archive = Buffer.from(await response.arrayBuffer());
      const files = unpackState(this.o.stateDir, archive);
      this.lastSavedPrint = stateFingerprint(this.o.stateDir);
      const ms = Date.now() - t0;
      this.o.log(`state: restored ${files.length} files (${archive.length} bytes) in ${ms} ms`);
      return { restored: true, files: files.length, bytes: archive.length, ms };
    } catch (error) {
      this.o.log(`state: restore failed (${(error as Error).message}); starting with what is on disk`);
      return { restored: false, files: 0, bytes: 0, ms: Date.now() - t0 };
    }
  }

  /** Watches for changes and saves once they have been quiet for the debounce. */
  start(): void {
    this.timer = setInterval(() => void this.tick(), this.o.pollMs);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    if (this.saving) return;
    const print = stateFingerprint(this.o.stateDir);
    if (print === this.lastSavedPrint) return;
    if (print !== this.changedPrint) {
      this.changedPrint = print;
      this.changedAt = Date.now();
      return;
    }
    if (Date.now() - this.changedAt >= this.o.debounceMs) await this.save("changed");
  }

  /** Packs and sends the state now (one at a time); a failure is logged and retried on the next change. */
  save(why: string): Promise<void> {
    this.saving ??= (async () => {
      const print = stateFingerprint(this.o.stateDir);
      try {
        const packed = await packState(this.o.stateDir);
        if (packed.archive.length > MAX_STATE_BYTES) {
          this.o.log(`state: ${packed.archive.length} bytes is above the Worker's ${MAX_STATE_BYTES}; not saved`);
          this.lastSavedPrint = print;
          return;
        }
        const response = await this.worker("/api/container/state", {
          method: "PUT",
          headers: { "content-type": "application/gzip" },
          body: packed.archive,
          signal: AbortSignal.timeout(60_000),
        });
        const text = await response.text().catch(() => "");
        this.saves.push({ at: Date.now(), status: response.status, bytes: packed.archive.length });
        if (response.ok) {
          this.lastSavedPrint = print;
          this.o.log(`state: saved ${packed.files} files, ${packed.rawBytes} → ${packed.archive.length} bytes (${why})`);
        } else {
          this.o.log(`state: save answered ${response.status}: ${text.slice(0, 200)}`);
        }
      } catch (error) {
        this.saves.push({ at: Date.now(), status: "error", bytes: 0 });
        this.o.log(`state: save failed (${(error as Error).message})`);
      }
    })().finally(() => {
      this.saving = null;
    });
    return this.saving;
  }

  /** At shutdown, after OpenClaw stopped: one last save when anything changed, within `budgetMs`. */
  async flush(budgetMs: number): Promise<void> {
    this.stop();
    await this.saving;
    if (stateFingerprint(this.o.stateDir) === this.lastSavedPrint) return;
    await Promise.race([this.save("shutdown"), new Promise((r) => setTimeout(r, budgetMs))]);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
