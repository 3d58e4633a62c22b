/**
 * Keeping a ready app in step with the user's object, which is the source of truth.
 *
 * `sync` sends only the secrets whose value changed (deleted files unset, in the same release) and
 * updates only the machines that are behind on config, or on secrets other than workspace files
 * (those reach the container without a restart: issue 15). Its decisions come from
 * what we recorded sending, so an unchanged workspace costs no Fly call at all.
 *
 * `reconcile` looks at Fly (IPs, secret names, machines) and repairs drift that someone or something
 * else caused: a missing IP, a secret removed by hand, a machine gone or running another image.
 */
import { AppError } from "../errors.ts";
import { FlyApiError } from "./fly-client.ts";
import type { FlyContext } from "./fly-context.ts";
import type { Machine } from "./fly-types.ts";
import { configDrift, configKey, machineNames } from "./machine-config.ts";
import { isLive, missingIps } from "./provisioner.ts";
import { changedFileNames, diffSecrets, isWorkspaceOnly, isEmptyDiff } from "./secrets.ts";

export interface SyncResult {
  changed: string[];
  machinesUpdated: number;
}

/** The app this object believes in does not exist on Fly any more. */
export class AppGoneError extends AppError {
  override readonly name = "AppGoneError";
}

export class Syncer {
  constructor(private readonly ctx: FlyContext) {}

  async sync(app: string, epoch: number): Promise<SyncResult> {
    const wanted = await this.ctx.wantedSecrets();
    const diff = diffSecrets(wanted.values, wanted.digests, this.ctx.store.sentDigests());
    const before = this.ctx.store.read().secretsVersion;
    let version = before;
    if (!isEmptyDiff(diff)) version = await this.ctx.pushSecrets(app, diff, wanted, epoch);

    const config = this.ctx.desiredConfig();
    const key = configKey(config);
    if (isWorkspaceOnly(diff)) this.skipRebootFor(before, version, key);
    const behind = this.ctx.store.machines().filter((m) => m.secretsVersion !== version || m.configKey !== key);
    let machinesUpdated = 0;
    if (behind.length > 0) {
      // Fresh states decide skip_launch: a stopped machine must not be woken by a sync.
      const live = await this.listLive(app);
      for (const known of behind) {
        const machine = live.find((m) => m.id === known.id);
        if (!machine) {
          this.ctx.store.forgetMachine(known.id); // reconcile makes it again
          continue;
        }
        await this.ctx.updateMachine(app, machine, config, version, epoch);
        machinesUpdated++;
      }
    }
    this.ctx.store.patch({ syncedDigest: await this.ctx.workspace.digest(), lastSyncAt: Date.now() });
    return { changed: changedFileNames(diff), machinesUpdated };
  }

  /** Returns what it repaired (empty when the app matched). */
  async reconcile(app: string, epoch: number): Promise<string[]> {
    const repaired: string[] = [];
    const client = this.ctx.client();

    for (const type of missingIps(await this.gone404(() => client.listIps(app)))) {
      await client.allocateIp(app, type);
      this.ctx.assertEpoch(epoch);
      repaired.push(`ip:${type}`);
    }

    const present = new Set((await this.gone404(() => client.listSecrets(app))).map((s) => s.name));
    const wanted = await this.ctx.wantedSecrets();
    const sent = this.ctx.store.sentDigests();
    // A secret missing on Fly is forgotten as sent, so the diff sends it again. Any secret present but
    // not wanted is unset: the app holds the contract's secrets and nothing else (a file no longer
    // there, or a Worker secret such as AWS_* or TELEGRAM_BOT_TOKEN that apps provisioned before
    // issue 13 were given, whether or not this object remembers sending it).
    for (const name of Object.keys(sent)) if (!present.has(name)) delete sent[name];
    for (const name of present) if (!(name in wanted.values)) sent[name] ??= "unknown";
    const diff = diffSecrets(wanted.values, wanted.digests, sent);
    let version = this.ctx.store.read().secretsVersion;
    if (!isEmptyDiff(diff)) {
      const before = version;
      version = await this.ctx.pushSecrets(app, diff, wanted, epoch);
      if (isWorkspaceOnly(diff)) this.skipRebootFor(before, version, configKey(this.ctx.desiredConfig()));
      repaired.push("secrets");
    }

    repaired.push(...(await this.reconcileMachines(app, version, epoch)));
    return repaired;
  }

  private async reconcileMachines(app: string, version: number | null, epoch: number): Promise<string[]> {
    const client = this.ctx.client();
    const repaired: string[] = [];
    const live = await this.listLive(app);
    const config = this.ctx.desiredConfig();
    const known = new Map(this.ctx.store.machines().map((m) => [m.id, m]));
    const kept: Machine[] = [];
    for (const [index, name] of machineNames(this.ctx.config.flyMaxMachines).entries()) {
      const machine = live.find((m) => m.name === name);
      if (!machine) {
        const created = await client.createMachine(app, { name, region: this.ctx.config.flyRegion, config, skip_launch: index > 0, min_secrets_version: version ?? undefined });
        this.ctx.assertEpoch(epoch);
        this.ctx.store.saveMachine(created, { secretsVersion: version, configKey: configKey(config) });
        kept.push(created);
        repaired.push(`machine:${name}:created`);
        continue;
      }
      const drift = configDrift(machine.config, config);
      if (drift.length > 0 || known.get(machine.id)?.secretsVersion !== version) {
        kept.push(await this.ctx.updateMachine(app, machine, config, version, epoch));
        repaired.push(`machine:${name}:${drift.length > 0 ? drift.join("+") : "secrets"}`);
      } else {
        kept.push(machine);
      }
    }
    // Our own machines beyond the wanted ones (a duplicate, or FLY_MAX_MACHINES lowered) go.
    const keptIds = new Set(kept.map((m) => m.id));
    for (const machine of live) {
      if (keptIds.has(machine.id) || machine.config?.metadata?.soulprint_user !== this.ctx.userId()) continue;
      await client.deleteMachine(app, machine.id, true);
      this.ctx.assertEpoch(epoch);
      repaired.push(`machine:${machine.name}:removed`);
    }
    this.ctx.store.refreshMachines(kept);
    return repaired;
  }

  /**
   * Workspace files reach a running or suspended container through GET /api/container/workspace:
   * no reboot for them (a reboot discards the suspend snapshot); later boots see the new secrets.
   */
  private skipRebootFor(before: number | null, version: number | null, key: string): void {
    for (const m of this.ctx.store.machines()) {
      if (m.configKey === key && m.secretsVersion === before) this.ctx.store.markSecretsVersion(m.id, version);
    }
  }

  private async listLive(app: string): Promise<Machine[]> {
    return (await this.gone404(() => this.ctx.client().listMachines(app))).filter(isLive);
  }

  private async gone404<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      if (err instanceof FlyApiError && err.status === 404) throw new AppGoneError(`The Fly app is gone.`);
      throw err;
    }
  }
}
