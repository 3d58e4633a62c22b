/**
 * The container as a route for this user's messages: which route the next message takes, the chat
 * producer that talks to the container, Telegram forwarding, and the circuit with its health job.
 * The actor only wires it; nothing here is reachable over RPC.
 */
import { UpstreamError } from "../errors.ts";
import type { ObjectContext } from "../object-context.ts";
import type { Workspace } from "../workspace.ts";
import type { FlyService } from "../fly/fly-service.ts";
import { webhookSecretOf } from "../telegram/telegram-store.ts";
import type { ReplyProducer } from "../chat/reply-context.ts";
import type { PromptImage } from "../chat/prompt.ts";
import { withImages } from "../images/prompt-images.ts";
import { Circuit } from "./circuit.ts";
import { ContainerProducer, forwardTelegramUpdate } from "./container-client.ts";
import { probeHealth } from "./health-probe.ts";
import { chooseRoute, type Route } from "./route.ts";

export const CONTAINER_HEALTH_JOB = "container_health";

/** The services the route reads: the Fly app (its state, URL and gateway token) and the workspace's version. */
export interface ContainerRoutingDeps {
  fly: Pick<FlyService, "state" | "appUrl" | "gatewayToken">;
  workspace: Pick<Workspace, "digest">;
}

export class ContainerRouting {
  readonly circuit: Circuit;

  constructor(
    private readonly ctx: ObjectContext,
    private readonly deps: ContainerRoutingDeps,
  ) {
    this.circuit = new Circuit(ctx.sql);
  }

  defineJobs(): void {
    this.ctx.jobs.define(CONTAINER_HEALTH_JOB, { run: () => this.checkHealth(), maxAttempts: 20, backoffBaseMs: this.ctx.config.container.cooldownMs });
  }

  /** Where this user's next message goes (the same answer for web, HTTP and Telegram). */
  route(): Route {
    const profile = this.ctx.profile();
    return profile ? chooseRoute(profile, this.deps.fly.state(), this.circuit.isOpen()) : "direct";
  }

  /** The container as the producer of the next reply, or null when the message goes direct. */
  producer(): ReplyProducer | null {
    if (this.route() !== "container") return null;
    return {
      produce: async (reply) => {
        const [appUrl, gatewayToken, profile] = [this.deps.fly.appUrl(), await this.deps.fly.gatewayToken(), this.ctx.profile()];
        if (!appUrl || !gatewayToken || !profile) return false;
        const target = { appUrl, gatewayToken, userId: profile.userId, workspaceVersion: await this.deps.workspace.digest(), images: (ids: string[]) => this.images(ids) };
        return new ContainerProducer(target, this.ctx.config.container, (reason) => this.openCircuit(reason), this.ctx.meter.fetch("container")).produce(reply);
      },
    };
  }

  /**
   * Telegram for container-routed users: the container answers; false means "answer directly".
   * `beforeForward` runs once the update is going to the container (it is stored in history then).
   */
  async forwardTelegram(update: unknown, beforeForward?: () => void): Promise<boolean> {
    const appUrl = this.deps.fly.appUrl();
    const webhookSecret = webhookSecretOf(this.ctx.sql);
    if (this.route() !== "container" || !appUrl || !webhookSecret) return false;
    const workspaceVersion = await this.deps.workspace.digest();
    beforeForward?.();
    const delivered = await forwardTelegramUpdate({ appUrl, webhookSecret, workspaceVersion }, update, this.ctx.config.container, this.ctx.meter.fetch("container"));
    if (!delivered) this.openCircuit("the container did not take a Telegram update");
    return delivered;
  }

  /** The bytes of a message's images, with the direct route's loader and caps (newest first, within MAX_PROMPT_IMAGE_BYTES). */
  private async images(ids: string[]): Promise<PromptImage[]> {
    return (await withImages(this.ctx.env.IMAGES, this.ctx.owner().userId, [], ids)).userImages;
  }

  private openCircuit(reason: string): void {
    this.circuit.open(this.ctx.config.container.cooldownMs, reason);
    console.warn(JSON.stringify({ event: "container_circuit_open", reason }));
    this.ctx.waitUntil(this.ctx.jobs.schedule(CONTAINER_HEALTH_JOB, this.ctx.config.container.cooldownMs, undefined, "replace"));
  }

  /** Closes the circuit once the container answers /health again (counted like every container call). */
  private async checkHealth(): Promise<void> {
    const appUrl = this.deps.fly.appUrl();
    if (!appUrl || this.deps.fly.state() !== "ready") return this.circuit.close();
    const status = await probeHealth(this.ctx.meter.fetch("container"), appUrl, this.ctx.config.container.wakeBudgetMs);
    if (status < 200 || status > 299) throw new UpstreamError("container", status, "unhealthy", status ? `The container's health check answered ${status}.` : "The container did not answer its health check.");
    this.circuit.close();
  }
}
