/**
 * A typed client for the Fly Machines API (../shared/reference/fly-machines-api.md): apps, secrets,
 * IP assignments and machines. Every request has a timeout; 429, 5xx and timeouts are retried with
 * exponential backoff and jitter, honouring `Retry-After`.
 *
 * Only requests that are safe to repeat are retried on 5xx or a timeout. A create (app, machine, IP)
 * may have taken effect before its answer was lost, so it is not blindly sent again: the provisioner
 * looks before it creates on its next attempt instead. A 429 is retried for every request, since
 * Fly refused it before doing anything.
 */
import { UnreachableError, UpstreamError } from "../errors.ts";
import { backoffDelay } from "../backoff.ts";
import type {
  FlyApp,
  IpAssignment,
  IpType,
  LaunchMachineInput,
  Machine,
  SecretsResult,
  UpdateMachineInput,
  WaitState,
} from "./fly-types.ts";

/** Fly answered with an error status. `code` is Fly's `status` field when it sent one (`name_taken`). */
export class FlyApiError extends UpstreamError {
  constructor(
    status: number,
    code: string,
    message: string,
    readonly method: string,
    readonly path: string,
    readonly retryAfterMs: number | null = null,
  ) {
    super("fly", status, code, message);
  }
}

/** Fly could not be reached, or did not answer within the request timeout. */
export class FlyUnreachableError extends UnreachableError {
  constructor(
    message: string,
    timedOut: boolean,
    readonly method: string,
    readonly path: string,
    options?: { cause?: unknown },
  ) {
    super("fly", message, timedOut, options);
  }
}

/** One request as it went out, for logs and call counts. */
export interface FlyCallInfo {
  method: string;
  path: string;
  status: number | "timeout" | "unreachable";
  attempt: number;
  ms: number;
}

export interface FlyClientOptions {
  /** `https://api.machines.dev`, without `/v1`. */
  baseUrl: string;
  token: string;
  fetch?: typeof fetch;
  /** Per request (a wait adds its own long-poll time on top). */
  timeoutMs?: number;
  /** Retries after the first attempt. */
  maxRetries?: number;
  retryBaseMs?: number;
  retryCapMs?: number;
  /** A `Retry-After` longer than this is not waited out here: the caller's job backs off instead. */
  maxRetryAfterMs?: number;
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
  onCall?: (call: FlyCallInfo) => void;
}

interface RequestOptions {
  body?: unknown;
  query?: Record<string, string | number | boolean | undefined>;
  /** Safe to send again after a 5xx or a timeout. */
  idempotent: boolean;
  /** Answers that are not errors for this call; their body is returned as is. */
  accept?: number[];
  timeoutMs?: number;
}

interface FlyResponse<T> {
  status: number;
  data: T | null;
}

const DEFAULTS = {
  timeoutMs: 30_000,
  maxRetries: 4,
  retryBaseMs: 250,
  retryCapMs: 8_000,
  maxRetryAfterMs: 30_000,
};

/** How long to wait before retry `attempt` (0-based): the project's backoff, with Retry-After as a floor. */
export function retryDelay(attempt: number, baseMs: number, capMs: number, retryAfterMs: number | null, random: () => number): number {
  // Going earlier than Retry-After only earns another 429.
  return Math.max(backoffDelay(attempt, { baseMs, capMs, jitter: "half" }, random), retryAfterMs ?? 0);
}

/** `Retry-After` as milliseconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfter(value: string | null, now = Date.now()): number | null {
  if (value === null || value.trim() === "") return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

/** Macaroon tokens go as `FlyV1 <token>` (fly-go tokens.go `normalized()`); the API takes both schemes. */
export function authorizationHeader(token: string): string {
  const trimmed = token.trim();
  if (/^FlyV1 /i.test(trimmed) || /^Bearer /i.test(trimmed)) return trimmed;
  return /^(fm1r_|fm1a_|fm2_)/.test(trimmed) ? `FlyV1 ${trimmed}` : `Bearer ${trimmed}`;
}

function isRetryableStatus(status: number): boolean {
  return status === 429 || status >= 500;
}

export class FlyClient {
  private readonly options: Required<Omit<FlyClientOptions, "onCall" | "fetch">> & Pick<FlyClientOptions, "onCall" | "fetch">;

  constructor(options: FlyClientOptions) {
    this.options = {
      ...DEFAULTS,
      random: Math.random,
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      ...options,
      baseUrl: options.baseUrl.replace(/\/+$/, ""),
    };
  }

  // --- apps ---

  /** The app, or null when the name is free (404). A name owned by another org is a 403 error. */
  async getApp(app: string): Promise<FlyApp | null> {
    const res = await this.request<FlyApp>("GET", `/v1/apps/${enc(app)}`, { idempotent: true, accept: [404] });
    return res.status === 404 ? null : res.data;
  }

  /**
   * Creates an app with a private network of its own. The docs and the 2024 OpenAPI name the field
   * `app_name`; current fly-go sends `name`: both are sent (Go's JSON decoding ignores the other).
   */
  async createApp(input: { name: string; org: string; network?: string }): Promise<{ id: string }> {
    const body = { app_name: input.name, name: input.name, org_slug: input.org, network: input.network };
    const res = await this.request<{ id: string }>("POST", "/v1/apps", { body, idempotent: false });
    return res.data ?? { id: "" };
  }

  /** Deletes the app and everything in it; `force` stops running machines first. False when it was gone. */
  async deleteApp(app: string, force = true): Promise<boolean> {
    const res = await this.request("DELETE", `/v1/apps/${enc(app)}`, { query: { force: force || undefined }, idempotent: true, accept: [404] });
    return res.status !== 404;
  }

  // --- secrets ---

  /** Sets and unsets (value null) many secrets in one release; returns the new secrets version. */
  async setSecrets(app: string, values: Record<string, string | null>): Promise<SecretsResult> {
    const res = await this.request<SecretsResult>("POST", `/v1/apps/${enc(app)}/secrets`, { body: { values }, idempotent: true });
    return res.data ?? { version: 0, secrets: [] };
  }

  async listSecrets(app: string): Promise<{ name: string; digest?: string }[]> {
    const res = await this.request<{ secrets: { name: string; digest?: string }[] }>("GET", `/v1/apps/${enc(app)}/secrets`, { idempotent: true });
    return res.data?.secrets ?? [];
  }

  // --- IP assignments ---

  async listIps(app: string): Promise<IpAssignment[]> {
    const res = await this.request<{ ips: IpAssignment[] }>("GET", `/v1/apps/${enc(app)}/ip_assignments`, { idempotent: true });
    return res.data?.ips ?? [];
  }

  /** Shared v4 and private v6 are not regional: the API rejects a region for them (flyctl). */
  async allocateIp(app: string, type: IpType): Promise<IpAssignment> {
    const res = await this.request<IpAssignment>("POST", `/v1/apps/${enc(app)}/ip_assignments`, { body: { type }, idempotent: false });
    return res.data ?? { ip: "" };
  }

  // --- machines ---

  async listMachines(app: string): Promise<Machine[]> {
    const res = await this.request<Machine[]>("GET", `/v1/apps/${enc(app)}/machines`, { idempotent: true });
    return res.data ?? [];
  }

  async getMachine(app: string, id: string): Promise<Machine | null> {
    const res = await this.request<Machine>("GET", `/v1/apps/${enc(app)}/machines/${enc(id)}`, { idempotent: true, accept: [404] });
    return res.status === 404 ? null : res.data;
  }

  async createMachine(app: string, input: LaunchMachineInput): Promise<Machine> {
    const res = await this.request<Machine>("POST", `/v1/apps/${enc(app)}/machines`, { body: input, idempotent: false });
    if (!res.data) throw new FlyApiError(502, "empty_response", "Fly created a machine but sent no machine back.", "POST", `/v1/apps/${app}/machines`);
    return res.data;
  }

  /** Replaces the machine's whole config (no partial updates in this API); reboots it unless `skip_launch`. */
  async updateMachine(app: string, id: string, input: UpdateMachineInput): Promise<Machine> {
    const path = `/v1/apps/${enc(app)}/machines/${enc(id)}`;
    const res = await this.request<Machine>("POST", path, { body: input, idempotent: true });
    if (!res.data) throw new FlyApiError(502, "empty_response", "Fly updated a machine but sent no machine back.", "POST", path);
    return res.data;
  }

  async startMachine(app: string, id: string): Promise<void> {
    await this.request("POST", `/v1/apps/${enc(app)}/machines/${enc(id)}/start`, { idempotent: true });
  }

  async stopMachine(app: string, id: string): Promise<void> {
    await this.request("POST", `/v1/apps/${enc(app)}/machines/${enc(id)}/stop`, { body: {}, idempotent: true });
  }

  /** False when the machine was already gone. */
  async deleteMachine(app: string, id: string, force = true): Promise<boolean> {
    const res = await this.request("DELETE", `/v1/apps/${enc(app)}/machines/${enc(id)}`, { query: { force: force || undefined }, idempotent: true, accept: [404] });
    return res.status !== 404;
  }

  /**
   * Waits until the machine reaches `state`. Fly long-polls for at most 60 s and answers 408 when the
   * state was not reached: we loop on 408 until `deadlineMs` has passed, then throw that 408.
   */
  async waitMachine(app: string, id: string, state: WaitState, options: { instanceId?: string; deadlineMs: number; pollSeconds?: number }): Promise<void> {
    const path = `/v1/apps/${enc(app)}/machines/${enc(id)}/wait`;
    const until = Date.now() + options.deadlineMs;
    for (;;) {
      const remainingS = Math.ceil((until - Date.now()) / 1000);
      const timeout = Math.max(1, Math.min(options.pollSeconds ?? 60, remainingS, 60));
      const res = await this.request("GET", path, {
        query: { state, timeout, instance_id: options.instanceId },
        idempotent: true,
        accept: [408],
        timeoutMs: timeout * 1000 + this.options.timeoutMs,
      });
      if (res.status !== 408) return;
      if (Date.now() >= until) {
        throw new FlyApiError(408, "wait_timeout", `Machine ${id} did not reach "${state}" in ${Math.round(options.deadlineMs / 1000)} s.`, "GET", path);
      }
    }
  }

  // --- transport ---

  private async request<T = unknown>(method: string, path: string, options: RequestOptions): Promise<FlyResponse<T>> {
    const { maxRetries, retryBaseMs, retryCapMs, maxRetryAfterMs, random, sleep } = this.options;
    for (let attempt = 0; ; attempt++) {
      let failure: FlyApiError | FlyUnreachableError;
      try {
        return await this.once<T>(method, path, options, attempt);
      } catch (err) {
        if (!(err instanceof FlyApiError || err instanceof FlyUnreachableError)) throw err;
        failure = err;
      }
      const apiError = failure instanceof FlyApiError ? failure : null;
      const retryable = apiError ? apiError.status === 429 || (options.idempotent && isRetryableStatus(apiError.status)) : options.idempotent;
      const retryAfter = apiError?.retryAfterMs ?? null;
      if (!retryable || attempt >= maxRetries || (retryAfter !== null && retryAfter > maxRetryAfterMs)) throw failure;
      await sleep(retryDelay(attempt, retryBaseMs, retryCapMs, retryAfter, random));
    }
  }

  private async once<T>(method: string, path: string, options: RequestOptions, attempt: number): Promise<FlyResponse<T>> {
    const url = new URL(this.options.baseUrl + path);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const headers: Record<string, string> = { authorization: authorizationHeader(this.options.token), accept: "application/json" };
    if (options.body !== undefined) headers["content-type"] = "application/json";
    const timeoutMs = options.timeoutMs ?? this.options.timeoutMs;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    const started = Date.now();
    const doFetch = this.options.fetch ?? fetch;
    let response: Response;
    try {
      response = await doFetch(url.toString(), {
        method,
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        signal: controller.signal,
      });
    } catch (cause) {
      clearTimeout(timer);
      const timedOut = controller.signal.aborted;
      this.options.onCall?.({ method, path, status: timedOut ? "timeout" : "unreachable", attempt, ms: Date.now() - started });
      const what = timedOut ? `did not answer within ${timeoutMs} ms` : "could not be reached";
      throw new FlyUnreachableError(`The Fly API ${what} (${method} ${path}).`, timedOut, method, path, { cause });
    }
    let text: string;
    try {
      text = await response.text();
    } catch (cause) {
      clearTimeout(timer);
      const timedOut = controller.signal.aborted;
      this.options.onCall?.({ method, path, status: timedOut ? "timeout" : "unreachable", attempt, ms: Date.now() - started });
      throw new FlyUnreachableError(`The Fly API broke off its answer (${method} ${path}).`, timedOut, method, path, { cause });
    }
    clearTimeout(timer);
    this.options.onCall?.({ method, path, status: response.status, attempt, ms: Date.now() - started });
    const data = parseJson(text);
    if (response.ok || options.accept?.includes(response.status)) {
      return { status: response.status, data: data as T | null };
    }
    throw toApiError(response, data, method, path);
  }
}

function toApiError(response: Response, data: unknown, method: string, path: string): FlyApiError {
  const body = typeof data === "object" && data !== null ? (data as { error?: unknown; message?: unknown; status?: unknown }) : {};
  const detail = typeof body.error === "string" ? body.error : typeof body.message === "string" ? body.message : response.statusText;
  const code = typeof body.status === "string" && body.status !== "" ? body.status : codeForStatus(response.status, detail);
  const message = `Fly API ${method} ${path} answered ${response.status}: ${detail.slice(0, 200)}`;
  return new FlyApiError(response.status, code, message, method, path, parseRetryAfter(response.headers.get("retry-after")));
}

function codeForStatus(status: number, detail: string): string {
  if (status === 422 && /already (exists|been taken)|taken/i.test(detail)) return "name_taken";
  const known: Record<number, string> = { 400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 408: "timeout", 409: "conflict", 412: "failed_precondition", 422: "unprocessable", 429: "rate_limited" };
  return known[status] ?? (status >= 500 ? "server_error" : "unknown");
}

function parseJson(text: string): unknown {
  if (text.trim() === "") return null;
  try {
    return JSON.parse(text);
  } catch {
    return { error: text.slice(0, 200) };
  }
}

function enc(segment: string): string {
  return encodeURIComponent(segment);
}
