/**
 * The resumable provisioning state machine: create_app → set_secrets → allocate_ips →
 * create_machines → wait_started → health_check, one step per job run.
 *
 * The step is stored before and after it runs, so a crash, an eviction or a timeout resumes at the
 * step that did not finish. Every step looks before it creates (Fly has no idempotency keys): an app
 * or machine that exists is adopted, never made twice. A step that fails throws and the job
 * scheduler backs it off; each finished step starts the attempt count again.
 */
import { AppError, InvariantError, RetryLaterError, UpstreamError } from "../errors.ts";
import { probeHealth } from "../container/health-probe.ts";
import { FlyApiError } from "./fly-client.ts";
import type { FlyContext } from "./fly-context.ts";
import type { IpAssignment, IpType, Machine } from "./fly-types.ts";
import { configKey, isPrimary, machineNames } from "./machine-config.ts";
import { diffSecrets, isEmptyDiff } from "./secrets.ts";

export const PROVISION_STEPS = ["create_app", "set_secrets", "allocate_ips", "create_machines", "wait_started", "health_check"] as const;
export type ProvisionStep = (typeof PROVISION_STEPS)[number];

export function isProvisionStep(value: string | null): value is ProvisionStep {
  return (PROVISION_STEPS as readonly string[]).includes(value ?? "");
}

/** The step after `step`, or null after the last. */
export function nextStep(step: ProvisionStep): ProvisionStep | null {
  return PROVISION_STEPS[PROVISION_STEPS.indexOf(step) + 1] ?? null;
}

/** A failure no retry can fix (the app name belongs to someone else): provisioning fails at once. */
export class ProvisionRefusedError extends AppError {
  override readonly name = "ProvisionRefusedError";
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Which addresses an app still lacks for `<app>.fly.dev` to resolve: a shared IPv4 and a public IPv6. */
export function missingIps(ips: IpAssignment[]): IpType[] {
  const v4 = ips.some((i) => !i.ip.includes(":"));
  // fdaa::/16 is Fly's private 6PN range: a private_v6 (Flycast) address is no public address.
  const v6 = ips.some((i) => i.ip.includes(":") && !/^fdaa:/i.test(i.ip));
  const missing: IpType[] = [];
  if (!v4) missing.push("shared_v4");
  if (!v6) missing.push("v6");
  return missing;
}

/** Machines that are on their way out do not count as existing. */
export function isLive(machine: Pick<Machine, "state">): boolean {
  return machine.state !== "destroyed" && machine.state !== "destroying";
}

export class Provisioner {
  constructor(private readonly ctx: FlyContext) {}

  /** Runs `step` for the app; `attempts` = failed attempts of this step so far. */
  async run(step: ProvisionStep, epoch: number, attempts: number): Promise<void> {
    const app = this.ctx.store.read().app;
    if (!app) throw new InvariantError("Provisioning has no app name.");
    switch (step) {
      case "create_app":
        return this.createApp(app, epoch);
      case "set_secrets":
        return this.setSecrets(app, epoch);
      case "allocate_ips":
        return this.allocateIps(app, epoch);
      case "create_machines":
        return this.createMachines(app, epoch);
      case "wait_started":
        return this.waitStarted(app, epoch, attempts);
      case "health_check":
        return this.healthCheck(app);
    }
  }

  private async createApp(app: string, epoch: number): Promise<void> {
    const client = this.ctx.client();
    const org = this.ctx.config.flyOrg;
    if (await this.ownedApp(app, org)) return;
    try {
      await client.createApp({ name: app, org, network: `${app}-net` });
    } catch (err) {
      // A create whose answer was lost, or a race: the name is taken. Ours (adopt) or not (refuse)?
      if (!(err instanceof FlyApiError && err.status === 422)) throw err;
      if (!(await this.ownedApp(app, org))) throw err;
    }
    this.ctx.assertEpoch(epoch);
  }

  /** True when the app exists in our org; false when the name is free; refuses when another org has it. */
  private async ownedApp(app: string, org: string): Promise<boolean> {
    let found;
    try {
      found = await this.ctx.client().getApp(app);
    } catch (err) {
      // App names are one global namespace: 403 on GET means another org owns it (reference, §Apps).
      if (err instanceof FlyApiError && err.status === 403) throw nameTaken(app);
      throw err;
    }
    if (!found) return false;
    const slug = found.organization?.slug;
    if (slug && slug !== org) throw nameTaken(app);
    return true;
  }

  private async setSecrets(app: string, epoch: number): Promise<void> {
    const wanted = await this.ctx.wantedSecrets();
    const record = this.ctx.store.read();
    // Without a version from Fly we do not know what it holds: send everything.
    const sent = record.secretsVersion === null ? {} : this.ctx.store.sentDigests();
    const diff = diffSecrets(wanted.values, wanted.digests, sent);
    if (isEmptyDiff(diff)) return;
    await this.ctx.pushSecrets(app, diff, wanted, epoch);
  }

  private async allocateIps(app: string, epoch: number): Promise<void> {
    const client = this.ctx.client();
    for (const type of missingIps(await client.listIps(app))) {
      try {
        await client.allocateIp(app, type);
      } catch (err) {
        // "already has/exists": a lost answer or a race did it already.
        if (!(err instanceof FlyApiError && err.status === 422 && /already/i.test(err.message))) throw err;
      }
      this.ctx.assertEpoch(epoch);
    }
  }

  private async createMachines(app: string, epoch: number): Promise<void> {
    const client = this.ctx.client();
    const config = this.ctx.desiredConfig();
    const version = this.ctx.store.read().secretsVersion;
    const live = (await client.listMachines(app)).filter(isLive);
    for (const [index, name] of machineNames(this.ctx.config.flyMaxMachines).entries()) {
      const existing = live.find((m) => m.name === name);
      if (existing) {
        // Adopted as it is: its secrets version is unknown, so the next sync brings it up to date.
        this.ctx.store.saveMachine(existing);
        continue;
      }
      const created = await client.createMachine(app, {
        name,
        region: this.ctx.config.flyRegion,
        config,
        // The first machine runs; the others are created stopped, for Fly's proxy to start under load.
        skip_launch: index > 0,
        min_secrets_version: version ?? undefined,
      });
      this.ctx.assertEpoch(epoch);
      this.ctx.store.saveMachine(created, { secretsVersion: version, configKey: configKey(config) });
    }
  }

  private async waitStarted(app: string, epoch: number, attempts: number): Promise<void> {
    const client = this.ctx.client();
    const primary = (await client.listMachines(app)).filter(isLive).find(isPrimary);
    if (!primary) {
      // Gone since it was created (deleted by hand, or destroyed): make it again.
      this.ctx.store.patch({ step: "create_machines" });
      throw new RetryLaterError("The app's main machine is gone; it will be created again.");
    }
    this.ctx.store.saveMachine(primary);
    // Stopped or suspended already (autostop is quick): the health check wakes it through the proxy.
    if (primary.state === "started" || primary.state === "stopped" || primary.state === "suspended") return;
    if (primary.state === "failed" || (primary.state === "created" && attempts > 0)) {
      await client.startMachine(app, primary.id);
    }
    await client.waitMachine(app, primary.id, "started", {
      instanceId: primary.instance_id,
      deadlineMs: this.ctx.tuning.waitStartedMs,
      pollSeconds: this.ctx.tuning.waitPollSeconds,
    });
    this.ctx.assertEpoch(epoch);
    this.ctx.store.saveMachine({ ...primary, state: "started" });
  }

  /** Through the public URL, as the chat will go: this also proves the IPs and the proxy work. */
  private async healthCheck(app: string): Promise<void> {
    const status = await probeHealth(this.ctx.object.meter.fetch("container"), this.ctx.appUrl(app), this.ctx.tuning.healthTimeoutMs);
    if (status === 0) {
      throw new UpstreamError("container", 504, "container_unreachable", `The container at ${this.ctx.appUrl(app)} did not answer its health check.`);
    }
    if (status !== 200) {
      throw new UpstreamError("container", status, "container_unhealthy", `The container's health check answered ${status}.`);
    }
  }
}

function nameTaken(app: string): ProvisionRefusedError {
  return new ProvisionRefusedError(
    "fly_app_name_taken",
    `The Fly app name ${app} belongs to another organization. Set FLY_APP_PREFIX to a prefix of your own and provision again.`,
  );
}

