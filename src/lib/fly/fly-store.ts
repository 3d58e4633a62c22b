/** Reads and writes of the Fly tables (fly-schema.ts), so the rest speaks in typed records. */
import type { Sql } from "../sql.ts";
import type { Machine } from "./fly-types.ts";

export type FlyState = "none" | "provisioning" | "ready" | "failed" | "deleting";

export interface FlyRecord {
  state: FlyState;
  step: string | null;
  app: string | null;
  region: string | null;
  lastError: string | null;
  gatewayToken: string | null;
  /** The epoch of the gateway token last issued; survives the app's deletion so an old token never returns. */
  gatewayEpoch: number;
  secretsVersion: number | null;
  epoch: number;
  syncedDigest: string | null;
  lastSyncAt: number | null;
}

export interface MachineRecord {
  id: string;
  name: string;
  region: string;
  state: string;
  instanceId: string | null;
  secretsVersion: number | null;
  configKey: string | null;
}

interface AppRow {
  state: FlyState;
  step: string | null;
  app: string | null;
  region: string | null;
  last_error: string | null;
  gateway_token: string | null;
  gateway_epoch: number;
  secrets_version: number | null;
  epoch: number;
  synced_digest: string | null;
  last_sync_at: number | null;
}

const COLUMNS: Record<keyof FlyRecord, string> = {
  state: "state",
  step: "step",
  app: "app",
  region: "region",
  lastError: "last_error",
  gatewayToken: "gateway_token",
  gatewayEpoch: "gateway_epoch",
  secretsVersion: "secrets_version",
  epoch: "epoch",
  syncedDigest: "synced_digest",
  lastSyncAt: "last_sync_at",
};

export class FlyStore {
  constructor(
    private readonly sql: Sql,
    private readonly now: () => number = Date.now,
  ) {}

  read(): FlyRecord {
    const row = this.sql.one<AppRow>("SELECT * FROM fly_app WHERE id = 1");
    if (!row) {
      return { state: "none", step: null, app: null, region: null, lastError: null, gatewayToken: null, gatewayEpoch: 0, secretsVersion: null, epoch: 0, syncedDigest: null, lastSyncAt: null };
    }
    return {
      state: row.state,
      step: row.step,
      app: row.app,
      region: row.region,
      lastError: row.last_error,
      gatewayToken: row.gateway_token,
      gatewayEpoch: row.gateway_epoch,
      secretsVersion: row.secrets_version,
      epoch: row.epoch,
      syncedDigest: row.synced_digest,
      lastSyncAt: row.last_sync_at,
    };
  }

  /** Writes the given fields of the one row (creating it the first time). */
  patch(fields: Partial<FlyRecord>): FlyRecord {
    this.sql.run("INSERT INTO fly_app (id, updated_at) VALUES (1, ?) ON CONFLICT(id) DO NOTHING", this.now());
    const entries = Object.entries(fields) as [keyof FlyRecord, FlyRecord[keyof FlyRecord]][];
    if (entries.length > 0) {
      const sets = entries.map(([key]) => `${COLUMNS[key]} = ?`).join(", ");
      this.sql.run(`UPDATE fly_app SET ${sets}, updated_at = ? WHERE id = 1`, ...entries.map(([, v]) => v), this.now());
    }
    return this.read();
  }

  machines(): MachineRecord[] {
    return this.sql
      .all<{ id: string; name: string; region: string; state: string; instance_id: string | null; secrets_version: number | null; config_key: string | null }>(
        "SELECT id, name, region, state, instance_id, secrets_version, config_key FROM fly_machines ORDER BY name, id",
      )
      .map((r) => ({ id: r.id, name: r.name, region: r.region, state: r.state, instanceId: r.instance_id, secretsVersion: r.secrets_version, configKey: r.config_key }));
  }

  /** Records a machine as Fly last showed it; `given` = the secrets version and config it was last given. */
  saveMachine(machine: Machine, given?: { secretsVersion: number | null; configKey: string }): void {
    this.sql.run(
      `INSERT INTO fly_machines (id, name, region, state, instance_id, secrets_version, config_key, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(id) DO UPDATE SET name = excluded.name, region = excluded.region, state = excluded.state, instance_id = excluded.instance_id,
         secrets_version = CASE WHEN ? THEN excluded.secrets_version ELSE fly_machines.secrets_version END,
         config_key = CASE WHEN ? THEN excluded.config_key ELSE fly_machines.config_key END, updated_at = excluded.updated_at`,
      machine.id,
      machine.name,
      machine.region,
      machine.state,
      machine.instance_id ?? null,
      given?.secretsVersion ?? null,
      given?.configKey ?? null,
      this.now(),
      given ? 1 : 0,
      given ? 1 : 0,
    );
  }

  markSecretsVersion(id: string, version: number | null): void {
    this.sql.run("UPDATE fly_machines SET secrets_version = ? WHERE id = ?", version, id);
  }

  /** Replaces the known states with a fresh list from Fly (machines no longer listed are forgotten). */
  refreshMachines(live: Machine[]): void {
    const ids = new Set(live.map((m) => m.id));
    for (const known of this.machines()) {
      if (!ids.has(known.id)) this.forgetMachine(known.id);
    }
    for (const machine of live) this.saveMachine(machine);
  }

  forgetMachine(id: string): void {
    this.sql.run("DELETE FROM fly_machines WHERE id = ?", id);
  }

  sentDigests(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const row of this.sql.all<{ name: string; digest: string }>("SELECT name, digest FROM fly_secrets")) out[row.name] = row.digest;
    return out;
  }

  recordSent(set: Record<string, string>, unset: string[]): void {
    for (const [name, digest] of Object.entries(set)) {
      this.sql.run("INSERT INTO fly_secrets (name, digest) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET digest = excluded.digest", name, digest);
    }
    for (const name of unset) this.sql.run("DELETE FROM fly_secrets WHERE name = ?", name);
  }

  forgetSecrets(names?: string[]): void {
    if (!names) {
      this.sql.run("DELETE FROM fly_secrets");
      return;
    }
    for (const name of names) this.sql.run("DELETE FROM fly_secrets WHERE name = ?", name);
  }

  /** After the app is gone: nothing of it remains but the epochs (its gateway token is revoked). */
  clearApp(): void {
    this.sql.run("DELETE FROM fly_machines");
    this.sql.run("DELETE FROM fly_secrets");
    const { epoch, gatewayEpoch } = this.read();
    this.sql.run("DELETE FROM fly_app");
    this.patch({ epoch, gatewayEpoch });
  }
}
