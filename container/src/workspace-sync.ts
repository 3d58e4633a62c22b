/**
 * Workspace changes without a restart (issue 15): the container reads the workspace from the Worker
 * (`GET {callback}/api/container/workspace`, `If-None-Match` with the version it has) at boot, on
 * resume (a jump of the wall clock means the machine was suspended), and when a request from the
 * Worker carries an `X-SoulPrint-Workspace-Version` it does not have. The secrets (`<STEM>_MD_B64`)
 * are only the cold-boot fallback when the Worker cannot be reached.
 *
 * OpenClaw reads the workspace files from disk for each agent run, so writing them is enough. A file
 * the agent changed that is still waiting for its write-back is left alone: its PUT carries the old
 * version, gets a 409 (the Worker keeps both), and the refresh after it brings the user's text.
 */
import { workerFetcher } from "./worker-link.ts";
import { join } from "node:path";
import { readFileSync, readdirSync, rmSync } from "node:fs";
import { FILE_NAME_PATTERN, writeFileAtomic } from "./workspace.ts";

export interface WorkspaceFile {
  name: string;
  content: string;
  sha256: string;
  version: number;
}

/** What the sync needs from the write-back: what the Worker has, as far as this container knows. */
export interface WorkspaceBaseline {
  syncedContent(name: string): string | undefined;
  /** The Worker's content is now on disk: not a change of the agent's, never to be sent back. */
  adopt(name: string, content: string | null): void;
}

export interface WorkspaceSyncOptions {
  dir: string;
  callbackUrl: string;
  userId: string;
  gatewayToken: string;
  baseline?: WorkspaceBaseline;
  /** A wall-clock jump larger than this between ticks means the machine was suspended. */
  resumeGapMs?: number;
  fetcher?: typeof fetch;
  log?: (line: string) => void;
}

export class WorkspaceSync {
  /** The version (the Worker's ETag, unquoted) now on disk, or null before the first fetch. */
  version: string | null = null;
  readonly refreshes: { at: number; reason: string; status: number | "error" }[] = [];
  private inFlight: Promise<boolean> | null = null;
  /** Files whose write-back lost (409): the Worker's text replaces the agent's on the next refresh. */
  private readonly forced = new Set<string>();
  private ticker: ReturnType<typeof setInterval> | null = null;
  private readonly worker: ReturnType<typeof workerFetcher>;
  private readonly log: (line: string) => void;

  private readonly o: WorkspaceSyncOptions;

  constructor(options: WorkspaceSyncOptions) {
    this.o = options;
    this.worker = workerFetcher(options);
    this.log = options.log ?? (() => {});
  }

  setBaseline(baseline: WorkspaceBaseline): void {
    this.o.baseline = baseline;
  }

  /** Fetches the workspace (conditionally) and lays changed files in; true when it reached the Worker. */
  refresh(reason: string): Promise<boolean> {
    this.inFlight ??= this.fetchOnce(reason).finally(() => {
      this.inFlight = null;
    });
    return this.inFlight;
  }

  /** The Worker refused the agent's write of `name` (409): take its text, which stays current. */
  takeWorkerVersion(name: string): Promise<boolean> {
    this.forced.add(name);
    this.version = null; // a 304 would skip the file
    return this.refresh("write-back conflict");
  }

  /** A request said which version the Worker has: refresh when it is not ours. */
  async noteVersion(version: string | undefined, waitMs = 3_000): Promise<void> {
    const wanted = version?.trim().replace(/^"|"$/g, "");
    if (!wanted || wanted === this.version) return;
    // Bounded: a slow Worker must not hold a chat; the reply then uses the files it has.
    await Promise.race([this.refresh("version moved on"), new Promise((r) => setTimeout(r, waitMs))]);
  }

  /** Notices a resume: setInterval does not run while suspended, so the clock jumps. */
  watchResume(tickMs = 1_000): void {
    let last = Date.now();
    this.ticker = setInterval(() => {
      const now = Date.now();
      if (now - last > (this.o.resumeGapMs ?? 5_000)) void this.refresh("resume");
      last = now;
    }, tickMs);
    this.ticker.unref();
  }

  stop(): void {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = null;
  }

  private async fetchOnce(reason: string): Promise<boolean> {
    const headers: Record<string, string> = this.version ? { "if-none-match": `"${this.version}"` } : {};
    try {
      const response = await this.worker("/api/container/workspace", { headers, signal: AbortSignal.timeout(10_000) });
      this.refreshes.push({ at: Date.now(), reason, status: response.status });
      if (response.status === 304) return true;
      if (!response.ok) {
        this.log(`workspace: the Worker answered ${response.status} (${reason}); keeping the files on disk`);
        await response.body?.cancel();
        return false;
      }
      const body = (await response.json()) as { version?: string; files?: WorkspaceFile[] };
      const files = (body.files ?? []).filter((f) => FILE_NAME_PATTERN.test(f.name) && typeof f.content === "string");
      const changed = this.apply(files);
      this.version = (response.headers.get("etag") ?? body.version ?? "").replace(/^W\//, "").replace(/^"|"$/g, "") || null;
      if (changed.length > 0) this.log(`workspace: ${changed.join(", ")} updated (${reason})`);
      return true;
    } catch (error) {
      this.refreshes.push({ at: Date.now(), reason, status: "error" });
      this.log(`workspace: could not reach the Worker (${(error as Error).message}; ${reason}); keeping the files on disk`);
      return false;
    }
  }

  /** Mirrors the Worker's files, except those the agent changed and has not sent yet. */
  private apply(files: WorkspaceFile[]): string[] {
    const changed: string[] = [];
    const wanted = new Map(files.map((f) => [f.name, f.content]));
    // The agent's own change, not yet accepted by the Worker (unknown to the Worker, or differing).
    const pendingOfAgent = (name: string) => {
      const synced = this.o.baseline?.syncedContent(name);
      return synced === undefined || this.read(name) !== synced;
    };
    for (const [name, content] of wanted) {
      const onDisk = this.read(name);
      if (onDisk === content) {
        this.o.baseline?.adopt(name, content);
        continue;
      }
      if (onDisk !== null && pendingOfAgent(name) && !this.forced.delete(name)) continue;
      writeFileAtomic(join(this.o.dir, name), content);
      this.o.baseline?.adopt(name, content);
      changed.push(name);
    }
    for (const name of this.names()) {
      if (wanted.has(name)) continue;
      const onDisk = this.read(name);
      // A file the Worker deleted goes; a new file of the agent's (never synced) stays for its write-back.
      if (this.o.baseline?.syncedContent(name) === undefined || onDisk !== this.o.baseline?.syncedContent(name)) continue;
      rmSync(join(this.o.dir, name), { force: true });
      this.o.baseline?.adopt(name, null);
      changed.push(`-${name}`);
    }
    return changed;
  }

  private names(): string[] {
    try {
      return readdirSync(this.o.dir).filter((n) => FILE_NAME_PATTERN.test(n));
    } catch {
      return [];
    }
  }

  private read(name: string): string | null {
    try {
      return readFileSync(join(this.o.dir, name), "utf8");
    } catch {
      return null;
    }
  }
}
