/**
 * The Fly tables of a user's object. Idempotent statements; the actor runs them in its migration.
 * - `fly_app`: the one state-machine row (state, step, app name, encrypted gateway token, the
 *   secrets version Fly last gave us, an `epoch` that a delete bumps so running steps notice).
 * - `fly_machines`: what we know of each machine, and the secrets version and config it was last
 *   given, so a sync updates only machines that are behind.
 * - `fly_secrets`: the digest of each secret as last sent, so a sync sends only what changed.
 */
export const FLY_SCHEMA: string[] = [
  `CREATE TABLE IF NOT EXISTS fly_app (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    state TEXT NOT NULL DEFAULT 'none',
    step TEXT,
    app TEXT,
    region TEXT,
    last_error TEXT,
    gateway_token TEXT,
    secrets_version INTEGER,
    epoch INTEGER NOT NULL DEFAULT 0,
    synced_digest TEXT,
    last_sync_at INTEGER,
    updated_at INTEGER NOT NULL DEFAULT 0
  )`,
  `CREATE TABLE IF NOT EXISTS fly_machines (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    region TEXT NOT NULL,
    state TEXT NOT NULL,
    instance_id TEXT,
    secrets_version INTEGER,
    config_key TEXT,
    updated_at INTEGER NOT NULL
  )`,
  `CREATE TABLE IF NOT EXISTS fly_secrets (
    name TEXT PRIMARY KEY,
    digest TEXT NOT NULL
  )`,
];
