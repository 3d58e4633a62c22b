/**
 * Sends workspace files the agent changed (MEMORY.md above all) back to the Worker:
 * `PUT {SOULPRINT_CALLBACK_URL}/api/container/workspace/<name>` with `Authorization: Bearer
 * <GATEWAY_TOKEN>` and `X-SoulPrint-User`, the file text as the body.
 *
 * - Echo-free: each file's baseline is the content the Worker sent at boot, then the content last
 *   accepted by the Worker; a file equal to its baseline is never sent.
 * - Debounced: a burst of writes to one file becomes one PUT, `debounceMs` after the last change.
 * - Retried: network errors, 408, 429 and 5xx are retried with backoff (Retry-After honoured);
 *   other 4xx (a name or size the Worker refuses, a wrong token) are logged and not repeated until
 *   the file changes again.
 * - Versioned: `If-Match` with the sha256 of the content the Worker last had (`If-None-Match: *`
 *   for a file new to it). A 409 means the person changed the file meanwhile: the Worker kept the
 *   agent's text as a version and the person's stays current; `onConflict` fetches it. A 409 or a
 *   refusal (a file above the caps) is also written to `writeback-notes.md` in the workspace, which
 *   the agent can read (its name is not a workspace name, so it is never sent).
 * - Watched with fs.watch plus a periodic scan, so a missed inotify event (rename over the file,
 *   an editor's temp file) is caught within `pollMs`.
 */
import { workerFetcher } from "./worker-link.ts";
import { appendFileSync, readdirSync, readFileSync, statSync, watch, type FSWatcher } from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { FILE_NAME_PATTERN, MAX_FILE_BYTES } from "./workspace.ts";

export interface WriteBackOptions {
  dir: string;
  callbackUrl: string;
  userId: string;
  gatewayToken: string;
  /** What the Worker sent at boot: name → content. */
  baseline: Map<string, string>;
  debounceMs?: number;
  pollMs?: number;
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** Attempts per change before waiting for the next change (or the next scan). */
  maxAttempts?: number;
  fetcher?: typeof fetch;
  log?: (line: string) => void;
  /** The Worker kept its own text of `name` (409): fetch it. */
  onConflict?: (name: string) => void;
}

/** Where refusals are noted for the agent (not a workspace name: never written back). */
export const NOTES_FILE = "writeback-notes.md";

export interface WriteBackEvent {
  at: number;
  name: string;
  status: number | "error";
  attempt: number;
  bytes: number;
}

interface Pending {
  timer: ReturnType<typeof setTimeout> | null;
  attempt: number;
  inFlight: boolean;
  /** Content refused with a permanent error: not retried until it changes. */
  refused: string | null;
}

const RETRYABLE = (status: number) => status === 408 || status === 429 || status >= 500;

export class WriteBack {
  readonly events: WriteBackEvent[] = [];
  private readonly synced: Map<string, string>;
  private readonly pending = new Map<string, Pending>();
  private watcher: FSWatcher | null = null;
  private poller: ReturnType<typeof setInterval> | null = null;
  private readonly lastSeen = new Map<string, string>();
  private stopped = false;
  private readonly o: Required<Omit<WriteBackOptions, "baseline" | "fetcher" | "log" | "onConflict">> & { log: (line: string) => void; onConflict: (name: string) => void };
  private readonly worker: ReturnType<typeof workerFetcher>;

  constructor(options: WriteBackOptions) {
    this.synced = new Map(options.baseline);
    this.o = {
      dir: options.dir,
      callbackUrl: options.callbackUrl.replace(/\/+$/, ""),
      userId: options.userId,
      gatewayToken: options.gatewayToken,
      debounceMs: options.debounceMs ?? 1_500,
      pollMs: options.pollMs ?? 5_000,
      retryBaseMs: options.retryBaseMs ?? 1_000,
      retryMaxMs: options.retryMaxMs ?? 60_000,
      maxAttempts: options.maxAttempts ?? 8,
      log: options.log ?? (() => {}),
      onConflict: options.onConflict ?? (() => {}),
    };
    this.worker = workerFetcher(options);
  }

  /** The Worker's content of `name` is on disk now (a workspace refresh wrote it): not to be sent. */
  adopt(name: string, content: string | null): void {
    if (content === null) this.synced.delete(name);
    else this.synced.set(name, content);
    if (content !== null) this.lastSeen.set(name, content);
    const p = this.pending.get(name);
    if (p && !p.inFlight && p.timer) {
      clearTimeout(p.timer);
      p.timer = null;
    }
    if (p) p.refused = null;
  }

  start(): void {
    try {
      this.watcher = watch(this.o.dir, { persistent: false }, (_event, file) => {
        if (typeof file === "string" && FILE_NAME_PATTERN.test(file)) this.changed(file);
      });
      this.watcher.on("error", (error) => this.o.log(`write-back: watch failed (${error.message}); scanning every ${this.o.pollMs} ms`));
    } catch (error) {
      this.o.log(`write-back: cannot watch ${this.o.dir} (${(error as Error).message}); scanning every ${this.o.pollMs} ms`);
    }
    this.poller = setInterval(() => this.scan(), this.o.pollMs);
    this.poller.unref();
  }

  /** Looks at every workspace file; those that differ from their baseline are scheduled. */
  scan(): void {
    let names: string[];
    try {
      names = readdirSync(this.o.dir).filter((n) => FILE_NAME_PATTERN.test(n));
    } catch {
      return;
    }
    for (const name of names) {
      const content = this.read(name);
      if (content === null || this.lastSeen.get(name) === content) continue;
      this.changed(name);
    }
  }

  /** The content the Worker has for a file, as far as this container knows. */
  syncedContent(name: string): string | undefined {
    return this.synced.get(name);
  }

  /** True while a file waits for its PUT or is being sent. */
  busy(): boolean {
    return [...this.pending.values()].some((p) => p.timer !== null || p.inFlight);
  }

  private read(name: string): string | null {
    const path = join(this.o.dir, name);
    try {
      const stat = statSync(path);
      if (!stat.isFile()) return null;
      return readFileSync(path, "utf8");
    } catch {
      return null;
    }
  }

  private changed(name: string): void {
    if (this.stopped) return;
    const content = this.read(name);
    if (content === null) return; // deleted or unreadable: the Worker has no delete call for containers
    this.lastSeen.set(name, content);
    const p = this.pending.get(name) ?? { timer: null, attempt: 0, inFlight: false, refused: null };
    this.pending.set(name, p);
    if (content === this.synced.get(name) || content === p.refused) {
      if (p.timer && !p.inFlight) {
        clearTimeout(p.timer);
        p.timer = null;
      }
      return;
    }
    p.attempt = 0;
    this.schedule(name, p, this.o.debounceMs);
  }

  private schedule(name: string, p: Pending, delayMs: number): void {
    if (p.timer) clearTimeout(p.timer);
    p.timer = setTimeout(() => {
      p.timer = null;
      void this.send(name, p);
    }, delayMs);
  }

  private async send(name: string, p: Pending): Promise<void> {
    if (p.inFlight) {
      if (!this.stopped) this.schedule(name, p, this.o.debounceMs);
      return;
    }
    const content = this.read(name);
    if (content === null || content === this.synced.get(name)) return;
    const bytes = Buffer.byteLength(content);
    if (bytes > MAX_FILE_BYTES) {
      p.refused = content;
      this.o.log(`write-back: ${name} is ${bytes} bytes, above the Worker's ${MAX_FILE_BYTES}; not sent`);
      this.note(name, 413, `A workspace file may be at most ${MAX_FILE_BYTES / 1024} KiB; this one is ${Math.ceil(bytes / 1024)} KiB. Shorten it.`);
      return;
    }
    p.inFlight = true;
    p.attempt += 1;
    let status: number | "error" = "error";
    let retryAfterMs: number | null = null;
    try {
      const response = await this.worker(`/api/container/workspace/${encodeURIComponent(name)}`, {
        method: "PUT",
        headers: {
          "content-type": "text/markdown; charset=utf-8",
          ...this.precondition(name),
        },
        body: content,
        signal: AbortSignal.timeout(30_000),
      });
      status = response.status;
      const retryAfter = Number(response.headers.get("retry-after"));
      if (Number.isFinite(retryAfter) && retryAfter > 0) retryAfterMs = Math.min(retryAfter * 1000, this.o.retryMaxMs);
      const text = await response.text().catch(() => "");
      if (!response.ok && !RETRYABLE(response.status)) {
        this.o.log(`write-back: ${name} refused with ${response.status}: ${text.slice(0, 300)}`);
        this.note(name, response.status, text);
      }
    } catch (error) {
      this.o.log(`write-back: ${name} failed (${(error as Error).message})`);
    } finally {
      p.inFlight = false;
    }
    this.events.push({ at: Date.now(), name, status, attempt: p.attempt, bytes });
    if (this.events.length > 200) this.events.splice(0, this.events.length - 200);

    if (typeof status === "number" && status >= 200 && status < 300) {
      this.synced.set(name, content);
      p.attempt = 0;
      this.o.log(`write-back: ${name} sent (${bytes} bytes)`);
      // Changed again while it was on its way: send the newer content too.
      const now = this.read(name);
      if (now !== null && now !== content) this.schedule(name, p, this.o.debounceMs);
      return;
    }
    if (typeof status === "number" && !RETRYABLE(status)) {
      p.refused = content;
      if (status === 409) this.o.onConflict(name);
      return;
    }
    if (this.stopped) return;
    if (p.attempt >= this.o.maxAttempts) {
      // Give up for now; the next change or scan of a still-different file starts over.
      this.o.log(`write-back: ${name} not sent after ${p.attempt} attempts; will retry on the next change`);
      this.lastSeen.delete(name);
      return;
    }
    const backoff = retryAfterMs ?? Math.min(this.o.retryMaxMs, this.o.retryBaseMs * 2 ** (p.attempt - 1));
    this.schedule(name, p, backoff);
  }

  /** If-Match with the version the Worker last had (its ETag is the content's sha256). */
  private precondition(name: string): Record<string, string> {
    const synced = this.synced.get(name);
    if (synced === undefined) return { "if-none-match": "*" };
    return { "if-match": `"${createHash("sha256").update(synced, "utf8").digest("hex")}"` };
  }

  /** Tells the agent, in a file it can read, why a file of its did not reach the Worker. */
  private note(name: string, status: number, body: string): void {
    let message = body;
    try {
      message = (JSON.parse(body) as { error?: { message?: string } }).error?.message ?? body;
    } catch {
      // not JSON: the text as it came
    }
    const line = `- ${new Date().toISOString()} ${name} was not saved (${status}): ${message.slice(0, 400)}\n`;
    try {
      appendFileSync(join(this.o.dir, NOTES_FILE), line, "utf8");
    } catch (error) {
      this.o.log(`write-back: cannot write ${NOTES_FILE} (${(error as Error).message})`);
    }
  }

  /**
   * Stops watching and sends what is still pending right away (one attempt each, within
   * `budgetMs`): called on SIGTERM/SIGINT, before the machine's disk goes away.
   */
  async flush(budgetMs = 5_000): Promise<void> {
    this.stopped = true;
    this.watcher?.close();
    if (this.poller) clearInterval(this.poller);
    const deadline = Date.now() + budgetMs;
    const names = readdirSafe(this.o.dir).filter((n) => FILE_NAME_PATTERN.test(n));
    const work: Promise<void>[] = [];
    for (const name of names) {
      const p = this.pending.get(name) ?? { timer: null, attempt: 0, inFlight: false, refused: null };
      if (p.timer) clearTimeout(p.timer);
      p.timer = null;
      const content = this.read(name);
      if (content === null || content === this.synced.get(name) || content === p.refused) continue;
      p.attempt = 0;
      work.push(this.send(name, p));
    }
    await Promise.race([Promise.allSettled(work), new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now())))]);
  }

  stop(): void {
    this.stopped = true;
    this.watcher?.close();
    if (this.poller) clearInterval(this.poller);
    for (const p of this.pending.values()) if (p.timer) clearTimeout(p.timer);
  }
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
