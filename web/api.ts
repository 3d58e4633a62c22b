/**
 * The HTTP side of API.md: one small client that adds the Authorization header, turns every
 * failure into an ApiError carrying the server's `{ error: { code, message } }`, and reports a 401
 * (anywhere) to the app so it can go back to sign-in.
 */
import type {
  FileVersion,
  FlyStatus,
  Health,
  Me,
  TelegramStatus,
  UsageDay,
  WorkspaceFile,
} from "./types.ts";

export class ApiError extends Error {
  override readonly name = "ApiError";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Seconds, from a `Retry-After` header (429, 503). */
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

export interface RequestOptions {
  method?: string;
  /** Sent as JSON with `Content-Type: application/json`. */
  json?: unknown;
  /** Sent as it is (workspace files: `text/markdown`; an image upload's bytes). */
  body?: string | Blob;
  headers?: Record<string, string>;
  /** Don't treat a 401 as "signed out" (used while checking a pasted token). */
  quiet401?: boolean;
}

export interface FileContent {
  text: string;
  /** The ETag exactly as the server sent it (`"<sha256>"`), for If-Match. */
  etag: string | null;
}

export interface SaveResult {
  name?: string;
  size?: number;
  sha256?: string;
  version?: number;
  /** The new version's ETag (from the header, else made from `sha256`), for the next If-Match. */
  etag?: string | null;
}

/** `"abc"`, `W/"abc"` → `abc`: the sha256 an ETag stands for. */
export function etagToSha(etag: string | null | undefined): string | null {
  if (!etag) return null;
  return etag.replace(/^W\//, "").replace(/^"|"$/g, "");
}

const enc = encodeURIComponent;

export class Api {
  constructor(
    private readonly getAuthHeader: () => string | null,
    private readonly onUnauthorized: (message: string) => void,
  ) {}

  /** Makes a request and returns the response when it is 2xx; otherwise throws an ApiError. */
  async request(path: string, opts: RequestOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { Accept: "application/json", ...opts.headers };
    const auth = this.getAuthHeader();
    if (auth) headers.Authorization = auth;
    let body: string | Blob | undefined = opts.body;
    if (opts.json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(opts.json);
    }
    let res: Response;
    try {
      res = await fetch(path, { method: opts.method ?? "GET", headers, body, cache: "no-store" });
    } catch {
      throw new ApiError(0, "network_error", "Could not reach the server. Check your connection and try again.");
    }
    if (res.ok) return res;
    const err = await errorFromResponse(res);
    if (res.status === 401 && !opts.quiet401) this.onUnauthorized(err.message);
    throw err;
  }

  async json<T>(path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.request(path, opts);
    if (res.status === 204) return {} as T;
    try {
      return (await res.json()) as T;
    } catch {
      return {} as T;
    }
  }

  // ---- endpoints ----

  health(): Promise<Health> {
    return this.json<Health>("/api/health");
  }
  me(opts: RequestOptions = {}): Promise<Me> {
    return this.json<Me>("/api/me", opts);
  }
  setChatMode(chatMode: "auto" | "direct"): Promise<Me> {
    return this.json<Me>("/api/me", { method: "PATCH", json: { chatMode } });
  }

  async listFiles(): Promise<WorkspaceFile[]> {
    const r = await this.json<{ files?: WorkspaceFile[] }>("/api/workspace");
    return Array.isArray(r.files) ? r.files.filter((f) => f && typeof f.name === "string") : [];
  }
  async getFile(name: string): Promise<FileContent> {
    const res = await this.request(`/api/workspace/${enc(name)}`, { headers: { Accept: "text/markdown, text/plain, */*" } });
    return { text: await res.text(), etag: res.headers.get("ETag") };
  }
  /**
   * Saves a file. `ifMatch`: the ETag the edit started from (412 when it changed since);
   * `create`: the file must not exist yet (If-None-Match: *). Neither: overwrite.
   */
  async putFile(name: string, text: string, cond: { ifMatch?: string | null; create?: boolean } = {}): Promise<SaveResult> {
    const headers: Record<string, string> = { "Content-Type": "text/markdown; charset=utf-8" };
    if (cond.ifMatch) headers["If-Match"] = cond.ifMatch;
    if (cond.create) headers["If-None-Match"] = "*";
    const res = await this.request(`/api/workspace/${enc(name)}`, { method: "PUT", body: text, headers });
    let body: SaveResult = {};
    try {
      body = (await res.json()) as SaveResult;
    } catch {
      /* no body: the ETag header may still say which version this is */
    }
    return { ...body, etag: res.headers.get("ETag") ?? (body.sha256 ? `"${body.sha256}"` : null) };
  }
  async deleteFile(name: string): Promise<void> {
    await this.request(`/api/workspace/${enc(name)}`, { method: "DELETE" });
  }
  async listVersions(name: string): Promise<FileVersion[]> {
    const r = await this.json<{ versions?: FileVersion[] }>(`/api/workspace/${enc(name)}/versions`);
    return Array.isArray(r.versions) ? r.versions.filter((v) => v && typeof v.version === "number") : [];
  }
  /**
   * The text of one earlier version. API.md lists versions but not how to read one: the listing's
   * own `text`/`content` is used when present, else `GET /api/workspace/:name/versions/:version`.
   */
  async getVersionText(name: string, v: FileVersion): Promise<string> {
    if (typeof v.text === "string") return v.text;
    if (typeof v.content === "string") return v.content;
    if (v.deleted || v.content === null) return "";
    const res = await this.request(`/api/workspace/${enc(name)}/versions/${v.version}`, {
      headers: { Accept: "text/markdown, text/plain, application/json" },
    });
    if ((res.headers.get("Content-Type") ?? "").includes("application/json")) {
      const body = (await res.json()) as { text?: string; content?: string };
      return body.text ?? body.content ?? "";
    }
    return res.text();
  }

  flyStatus(): Promise<FlyStatus> {
    return this.json<FlyStatus>("/api/fly/status");
  }
  flyProvision(): Promise<FlyStatus> {
    return this.json<FlyStatus>("/api/fly/provision", { method: "POST" });
  }
  flySync(): Promise<{ changed?: string[]; machinesUpdated?: number; queued?: boolean }> {
    return this.request("/api/fly/sync", { method: "POST" }).then(async (res) => {
      if (res.status === 202) return { queued: true };
      try {
        return (await res.json()) as { changed?: string[]; machinesUpdated?: number };
      } catch {
        return {};
      }
    });
  }
  async flyDelete(): Promise<void> {
    await this.request("/api/fly/app", { method: "DELETE" });
  }

  telegramClaim(botToken?: string): Promise<TelegramStatus> {
    return this.json<TelegramStatus>("/api/telegram/claim", { method: "POST", json: botToken ? { botToken } : {} });
  }
  async telegramRelease(): Promise<void> {
    await this.request("/api/telegram/claim", { method: "DELETE" });
  }

  /** The container's upcoming scheduled jobs (issue 15). */
  async schedule(): Promise<{ jobs: { id: string; name: string; nextRunAt: string }[]; nextWakeAt: string | null }> {
    const r = await this.json<{ jobs?: { id: string; name: string; nextRunAt: string }[]; nextWakeAt?: string | null }>("/api/schedule");
    return { jobs: r.jobs ?? [], nextWakeAt: r.nextWakeAt ?? null };
  }

  async usage(days: number): Promise<UsageDay[]> {
    const r = await this.json<{ days?: UsageDay[] }>(`/api/usage?days=${days}`);
    return Array.isArray(r.days) ? r.days.filter((d) => d && typeof d.date === "string") : [];
  }

  async chatTicket(): Promise<string> {
    const r = await this.json<{ ticket?: string }>("/api/chat/ticket", { method: "POST" });
    if (!r.ticket) throw new ApiError(502, "bad_ticket", "The server did not issue a chat ticket.");
    return r.ticket;
  }

  /** Stores an image to send with the next message; its id goes in the chat frame's `images`. */
  async uploadImage(image: Blob): Promise<{ id: string; url: string; alt: string }> {
    return this.json("/api/images", { method: "POST", body: image, headers: { "Content-Type": image.type || "application/octet-stream" } });
  }

  /** A generated image; owner only, so it needs the Authorization header (an <img> can't send it). */
  async image(url: string): Promise<Blob> {
    const res = await this.request(url, { headers: { Accept: "image/*" } });
    return res.blob();
  }
}

async function errorFromResponse(res: Response): Promise<ApiError> {
  const retryAfterHeader = res.headers.get("Retry-After");
  const retryAfter = retryAfterHeader && /^\d+$/.test(retryAfterHeader) ? Number(retryAfterHeader) : undefined;
  let code = `http_${res.status}`;
  let message = defaultMessage(res.status);
  try {
    const body = (await res.json()) as { error?: { code?: unknown; message?: unknown } };
    if (typeof body.error?.code === "string") code = body.error.code;
    if (typeof body.error?.message === "string" && body.error.message) message = body.error.message;
  } catch {
    /* not JSON: keep the generic message */
  }
  return new ApiError(res.status, code, message, retryAfter);
}

function defaultMessage(status: number): string {
  if (status === 401) return "You are not signed in, or your sign-in has expired.";
  if (status === 403) return "That is not allowed for your account.";
  if (status === 404) return "Not found.";
  if (status === 409) return "That conflicts with the current state. Refresh and try again.";
  if (status === 412) return "It changed since you loaded it.";
  if (status === 413) return "That is too large.";
  if (status === 429) return "Too many requests. Wait a moment and try again.";
  if (status >= 500) return `The server had a problem (${status}). Try again in a moment.`;
  return `The request failed (${status}).`;
}
