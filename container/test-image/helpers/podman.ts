/**
 * Podman from the image tests: the project's containers.conf (runc, ulimits), the image under test,
 * and containers that are always removed, named so that a crashed run's leftovers can be found.
 */
import { spawn, spawnSync } from "node:child_process";
import { resolve } from "node:path";

export const CONTAINER_DIR = resolve(import.meta.dirname, "..", "..");
export const IMAGE_DIR = resolve(CONTAINER_DIR, "image");
export const IMAGE = process.env.SOULPRINT_IMAGE ?? "localhost/soulprint-agent:dev";
/** Every container a run starts carries its run's label: image/test.sh removes them all when it ends. */
export const TEST_LABEL = `soulprint.test.run=${process.env.SOULPRINT_TEST_RUN ?? `pid-${process.pid}`}`;

const env = { ...process.env, CONTAINERS_CONF: process.env.CONTAINERS_CONF ?? resolve(IMAGE_DIR, "containers.conf") };

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `podman ...args` to the end (async: the tests' stand-ins keep serving meanwhile). */
export function podman(args: string[], options: { input?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((done, fail) => {
    const child = spawn("podman", args, { env: { ...env, ...options.env }, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString("utf8")));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 120_000);
    child.on("error", fail);
    child.on("close", (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? "");
  });
}

/** Like podman(), but fails on a non-zero exit, with its stderr. */
export async function podmanOk(args: string[], options: Parameters<typeof podman>[1] = {}): Promise<string> {
  const run = await podman(args, options);
  if (run.code !== 0) throw new Error(`podman ${args.slice(0, 3).join(" ")} … exited ${run.code}: ${run.stderr.trim() || run.stdout.trim()}`);
  return run.stdout;
}

/** Removes a container whatever its state (used from `after` hooks and on exit). */
export function removeSync(name: string): void {
  spawnSync("podman", ["rm", "--force", "--time", "0", name], { env, stdio: "ignore", timeout: 60_000 });
}

export interface StartedContainer {
  name: string;
  /** http://127.0.0.1:<random host port> → the container's CONTAINER_PORT. */
  url: string;
  startedAt: number;
  logs(): Promise<string>;
  exec(command: string[], user?: string): Promise<Run>;
  remove(): void;
}

/**
 * `podman run -d` of the image as Fly runs it (1 shared CPU, 2048 MB), published on a random
 * loopback port. `slirp4netns:allow_host_loopback` lets the container reach the host's stand-ins
 * (on 127.0.0.1) at 10.0.2.2, so nothing on the host listens beyond loopback.
 */
export async function startContainer(options: { env: Record<string, string>; extra?: string[] }): Promise<StartedContainer> {
  const name = `soulprint-image-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  // Removed even when the test process dies between here and its `after` hook.
  process.once("exit", () => removeSync(name));
  const envArgs = Object.entries(options.env).flatMap(([k, v]) => ["--env", `${k}=${v}`]);
  const startedAt = Date.now();
  await podmanOk([
    "run", "--detach", "--name", name, "--label", TEST_LABEL,
    "--memory", "2048m", "--cpus", "1",
    "--network", "slirp4netns:allow_host_loopback=true",
    "--publish", "127.0.0.1::8080",
    ...envArgs, ...(options.extra ?? []), IMAGE,
  ]);
  const port = (await podmanOk(["port", name, "8080/tcp"])).trim().split(":").at(-1);
  return {
    name,
    url: `http://127.0.0.1:${port}`,
    startedAt,
    logs: async () => {
      const run = await podman(["logs", name]);
      return `${run.stdout}${run.stderr}`;
    },
    exec: (command, user) => podman(["exec", ...(user ? ["--user", user] : []), name, ...command]),
    remove: () => removeSync(name),
  };
}

/** The host as the container sees it (slirp4netns with allow_host_loopback). */
export const HOST_FROM_CONTAINER = "10.0.2.2";
