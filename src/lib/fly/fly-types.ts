/**
 * The shapes of the Fly Machines API that we send and read (../shared/reference/fly-machines-api.md;
 * fly-go machine_types.go, secrets_types.go, flaps_ip_assignments.go). Only the fields we use are
 * typed; Fly sends more, and we keep what we do not know untouched.
 */

export type MachineState =
  | "created"
  | "starting"
  | "started"
  | "stopping"
  | "stopped"
  | "suspending"
  | "suspended"
  | "replacing"
  | "destroying"
  | "destroyed"
  | "failed";

export type AutostopMode = "off" | "stop" | "suspend";

export interface FlyApp {
  id: string;
  name: string;
  status?: string;
  organization?: { name?: string; slug: string };
  network?: string;
}

export interface ServicePort {
  port: number;
  handlers: string[];
  force_https?: boolean;
}

export interface ServiceCheck {
  type: "http" | "tcp";
  port?: number;
  method?: string;
  path?: string;
  interval: string;
  timeout: string;
  grace_period?: string;
}

export interface MachineService {
  protocol: "tcp" | "udp";
  internal_port: number;
  ports: ServicePort[];
  autostop: AutostopMode;
  autostart: boolean;
  min_machines_running: number;
  concurrency: { type: "requests" | "connections"; soft_limit: number; hard_limit: number };
  checks?: ServiceCheck[];
}

export interface MachineFile {
  guest_path: string;
  secret_name?: string;
  raw_value?: string;
  mode?: number;
}

export interface MachineConfig {
  image: string;
  env?: Record<string, string>;
  guest: { cpu_kind: "shared" | "performance"; cpus: number; memory_mb: number };
  services: MachineService[];
  restart: { policy: "no" | "on-failure" | "always"; max_retries?: number };
  /** How a stop ends the machine: the container saves its state after SIGTERM, before it exits. */
  stop_config?: { signal?: string; timeout?: string };
  files?: MachineFile[];
  metadata?: Record<string, string>;
  auto_destroy?: boolean;
}

export interface Machine {
  id: string;
  name: string;
  state: MachineState;
  region: string;
  instance_id: string;
  private_ip?: string;
  config: MachineConfig;
  created_at?: string;
  updated_at?: string;
}

export interface LaunchMachineInput {
  name: string;
  region: string;
  config: MachineConfig;
  skip_launch?: boolean;
  min_secrets_version?: number;
}

export interface UpdateMachineInput {
  config: MachineConfig;
  skip_launch?: boolean;
  min_secrets_version?: number;
  current_version?: string;
}

export interface SecretsResult {
  version: number;
  secrets: { name: string; digest?: string }[];
}

export type IpType = "shared_v4" | "v6" | "v4" | "private_v6";

export interface IpAssignment {
  ip: string;
  region?: string;
  service_name?: string;
  shared?: boolean;
  created_at?: string;
}

/** What a wait may wait for (`GET …/wait?state=`). */
export type WaitState = "started" | "stopped" | "suspended" | "destroyed";
