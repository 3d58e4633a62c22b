/**
 * What the provisioner, the sync and the service share: the host (the user's object), config,
 * timing, the client, the store, and the few operations more than one of them performs (what the
 * secrets and machine config should be, pushing secrets, updating a machine).
 */
import { AppError, InvariantError } from "../errors.ts";
import type { ObjectContext } from "../object-context.ts";
import type { FlyTuning } from "../tuning.ts";
import type { Workspace } from "../workspace.ts";
import { requireContainerImage, requirePublicUrl, requireSecret, type Config } from "../config.ts";
import { webhookSecretOf } from "../telegram/telegram-store.ts";
import { decryptSecret, encryptSecret, sha256Hex } from "../crypto.ts";
import { mintGatewayToken } from "../gateway-token.ts";
import type { FlyClient } from "./fly-client.ts";
import { createFlyClient } from "./fly-settings.ts";
import { FlyStore, type FlyRecord } from "./fly-store.ts";
import type { Machine, MachineConfig } from "./fly-types.ts";
import { buildMachineConfig, configKey } from "./machine-config.ts";
import { desiredSecrets, secretsPayload, type SecretsDiff } from "./secrets.ts";


/** A running step noticed that the state changed under it (a delete won): it stops quietly. */
export class StaleRunError extends AppError {
  override readonly name = "StaleRunError";
}

export interface WantedSecrets {
  values: Record<string, string>;
  digests: Record<string, string>;
}

export class FlyContext {
  readonly config: Config;
  readonly store: FlyStore;
  private flyClient: FlyClient | null = null;

  constructor(
    /** The user's object: env, config, sql, jobs, meter, events. */
    readonly object: ObjectContext,
    readonly workspace: Workspace,
  ) {
    this.config = object.config;
    this.store = new FlyStore(object.sql);
  }

  /** The Fly timing of this object's config (tests change it there). */
  get tuning(): FlyTuning {
    return this.config.fly;
  }

  /** Created on first use, so a deployment without FLY_API_TOKEN fails only when Fly is needed. */
  client(): FlyClient {
    this.flyClient ??= createFlyClient(this.object.env, this.tuning, this.object.meter.fetch("fly"));
    return this.flyClient;
  }

  userId(): string {
    return this.object.owner().userId;
  }

  appName(): string {
    return `${this.config.flyAppPrefix}${this.userId()}`;
  }

  appUrl(app: string): string {
    return this.config.flyAppUrlTemplate.replaceAll("{app}", app).replace(/\/+$/, "");
  }

  /** Throws StaleRunError when a delete (or a new provision) has begun since `epoch` was read. */
  assertEpoch(epoch: number): FlyRecord {
    const record = this.store.read();
    if (record.epoch !== epoch) throw new StaleRunError("The Fly app's state changed while this step ran.");
    return record;
  }

  /**
   * The app's GATEWAY_TOKEN, decrypted. A token issued before gateway tokens became HMACs (random,
   * unverifiable at the Worker) is replaced here by a new-format one, which the next sync sends.
   */
  async gatewayToken(): Promise<string | null> {
    const key = requireSecret(this.object.env, "ENCRYPTION_KEY");
    const sealed = this.store.read().gatewayToken;
    if (!sealed) return null;
    const token = await decryptSecret(key, sealed);
    if (token.startsWith("gw1.")) return token;
    const issued = await this.issueGatewayToken(key);
    this.store.patch(issued);
    return decryptSecret(key, issued.gatewayToken);
  }

  /**
   * A new gateway token, sealed, with its epoch: past every epoch this object issued, and at least
   * the current time, so even a user whose storage was deleted never gets an old token back.
   */
  async issueGatewayToken(key: string): Promise<{ gatewayToken: string; gatewayEpoch: number }> {
    const gatewayEpoch = Math.max(this.store.read().gatewayEpoch + 1, Date.now());
    const token = await mintGatewayToken(this.object.env, this.userId(), gatewayEpoch);
    return { gatewayToken: await encryptSecret(key, token), gatewayEpoch };
  }

  /** Every secret the app should have now, with the digest of each value. */
  async wantedSecrets(): Promise<WantedSecrets> {
    const gatewayToken = await this.gatewayToken();
    if (!gatewayToken) throw new InvariantError("The Fly app has no gateway token yet.");
    const values = desiredSecrets({
      userId: this.userId(),
      // Outside local dev a missing PUBLIC_URL fails closed (config.ts).
      callbackUrl: requirePublicUrl(this.object.env, "http://127.0.0.1:8787"),
      gatewayToken,
      model: this.config.bedrockModelId,
      telegramWebhookSecret: webhookSecretOf(this.object.sql),
      files: this.workspace.snapshot(),
    });
    const digests: Record<string, string> = {};
    for (const [name, value] of Object.entries(values)) digests[name] = await sha256Hex(`${name}=${value}`);
    return { values, digests };
  }

  /** The config every agent machine should have, for the workspace as it is now. */
  desiredConfig(): MachineConfig {
    const c = this.config;
    return buildMachineConfig({
      // A job that runs after the operator unset it fails naming the setting, never a guessed image.
      image: requireContainerImage(this.object.env),
      port: c.containerPort,
      memoryMb: c.flyMachineMemoryMb,
      autostop: c.flyAutostop,
      userId: this.userId(),
    });
  }

  /** Sends a secrets diff in one release and records it; returns the new secrets version. */
  async pushSecrets(app: string, diff: SecretsDiff, wanted: WantedSecrets, epoch: number): Promise<number> {
    const result = await this.client().setSecrets(app, secretsPayload(diff));
    this.assertEpoch(epoch);
    const sent: Record<string, string> = {};
    for (const name of Object.keys(diff.set)) sent[name] = wanted.digests[name] ?? "";
    this.store.recordSent(sent, diff.unset);
    this.store.patch({ secretsVersion: result.version });
    return result.version;
  }

  /**
   * Gives a machine the config and secrets version. A machine that is not running is updated with
   * `skip_launch`, so a sync does not wake (and bill) an idle user's machine; it boots with the
   * new secrets the next time the proxy starts it.
   */
  async updateMachine(app: string, machine: Machine, config: MachineConfig, secretsVersion: number | null, epoch: number): Promise<Machine> {
    const updated = await this.client().updateMachine(app, machine.id, {
      config,
      min_secrets_version: secretsVersion ?? undefined,
      skip_launch: machine.state !== "started",
    });
    this.assertEpoch(epoch);
    this.store.saveMachine(updated, { secretsVersion, configKey: configKey(config) });
    return updated;
  }

  /** Pushes `{ type: "fly", state, step, detail }` to the user's open sockets. */
  progress(detail?: string): void {
    const record = this.store.read();
    this.object.broadcast({ type: "fly", state: record.state, step: record.step, ...(detail ? { detail } : {}) });
  }
}
