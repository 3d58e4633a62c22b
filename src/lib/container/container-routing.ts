/**
 * The container as a route for this user's messages: which route the next message takes, the chat
 * producer that talks to the container, Telegram forwarding, and the circuit with its health job.
 * The actor only wires it; nothing here is reachable over RPC.
 */
import { UpstreamError } from "../errors.ts";
import type { Config } from "../config.ts";
import type { JobScheduler } from "../jobs.ts";
import type { Profile } from "../profile.ts";
import type { Sql } from "../sql.ts";
import type { UpstreamMeter } from "../upstream-meter.ts";
import type { ReplyProducer } from "../chat/reply-context.ts";
import type { PromptImage } from "../chat/prompt.ts";
import { Circuit } from "./circuit.ts";
import { ContainerProducer, forwardTelegramUpdate, type ContainerTuning } from "./container-client.ts";
import { chooseRoute, type Route } from "./route.ts";

export const CONTAINER_HEALTH_JOB = "container_health";

export interface ContainerRoutingHost {
  config: Config;
  sql: Sql;
  jobs: JobScheduler;
  meter: UpstreamMeter;
  profile(): Profile | null;
  flyState(): string;
  appUrl(): string | null;
  gatewayToken(): Promise<string | null>;
  workspaceVersion(): Promise<string>;
  /** The bytes of a message's images (the same caps as the direct route's prompt). */
  images(ids: string[]): Promise<PromptImage[]>;
  waitUntil(work: Promise<unknown>): void;
}

export class ContainerRouting {
  readonly circuit: Circuit;
  /** How long a sleeping container may take to answer, and how long its reply may run (tests shorten them). */
  tuning: ContainerTuning;

  constructor(private readonly host: ContainerRoutingHost) {
    this.circuit = new Circuit(host.sql);
    this.tuning = {
      wakeBudgetMs: host.config.containerWakeBudgetMs,
      retryBaseMs: 250,
      idleTimeoutMs: host.config.containerIdleTimeoutMs,
      replyCapMs: host.config.containerReplyCapMs,
    };
  }

  defineJobs(): void {
    this.host.jobs.define(CONTAINER_HEALTH_JOB, { run: () => this.checkHealth(), maxAttempts: 20, backoffBaseMs: this.host.config.containerCooldownMs });
  }

  /** Where this user's next message goes (the same answer for web, HTTP and Telegram). */
  route(): Route {
    const profile = this.host.profile();
    return profile ? chooseRoute(profile, this.host.flyState(), this.circuit.isOpen()) : "direct";
  }

  /** The container as the producer of the next reply, or null when the message goes direct. */
  producer(): ReplyProducer | null {
    if (this.route() !== "container") return null;
    return {
      produce: async (reply) => {
        const [appUrl, gatewayToken, profile] = [this.host.appUrl(), await this.host.gatewayToken(), this.host.profile()];
        if (!appUrl || !gatewayToken || !profile) return false;
        const target = { appUrl, gatewayToken, userId: profile.userId, workspaceVersion: await this.host.workspaceVersion(), images: (ids: string[]) => this.host.images(ids) };
        return new ContainerProducer(target, this.tuning, (reason) => this.openCircuit(reason), this.host.meter.fetch("container")).produce(reply);
      },
    };
  }

  /**
   * Telegram for container-routed users: the container answers; false means "answer directly".
   * `beforeForward` runs once the update is going to the container (it is stored in history then).
   */
  async forwardTelegram(update: unknown, webhookSecret: string, beforeForward?: () => void): Promise<boolean> {
    const appUrl = this.host.appUrl();
    if (this.route() !== "container" || !appUrl) return false;
    const workspaceVersion = await this.host.workspaceVersion();
    beforeForward?.();
    const delivered = await forwardTelegramUpdate({ appUrl, webhookSecret, workspaceVersion }, update, this.tuning, this.host.meter.fetch("container"));
    if (!delivered) this.openCircuit("the container did not take a Telegram update");
    return delivered;
  }

  private openCircuit(reason: string): void {
    this.circuit.open(this.host.config.containerCooldownMs, reason);
    console.warn(JSON.stringify({ event: "container_circuit_open", reason }));
    this.host.waitUntil(this.host.jobs.schedule(CONTAINER_HEALTH_JOB, this.host.config.containerCooldownMs, undefined, "replace"));
  }

  /** Closes the circuit once the container answers /health again (counted like every container call). */
  private async checkHealth(): Promise<void> {
    const appUrl = this.host.appUrl();
    if (!appUrl || this.host.flyState() !== "ready") return this.circuit.close();
    const response = await this.host.meter.fetch("container")(`${appUrl}/health`, { signal: AbortSignal.timeout(this.tuning.wakeBudgetMs) });
    await response.body?.cancel();
    if (!response.ok) throw new UpstreamError("container", response.status, "unhealthy", `The container's health check answered ${response.status}.`);
    this.circuit.close();
  }
}
