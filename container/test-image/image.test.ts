/**
 * The built image at rest: its user, init, health check and permissions; no build secret left in
 * it; and `npm run image:push` up to the push (the OCI archive that would be pushed, its size).
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { appendFileSync, cpSync, createReadStream, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pipeline } from "node:stream/promises";
import { Writable } from "node:stream";
import { createGzip } from "node:zlib";
import { CONTAINER_DIR, IMAGE, IMAGE_DIR, podman, podmanOk } from "./helpers/podman.ts";

const figures: string[] = [];
const scratch = mkdtempSync(join(tmpdir(), "soulprint-image-"));
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(0)} MB`;

/** A one-off command in the image (no init, no health check, removed afterwards). */
function inImage(script: string, user = "node") {
  return podman(["run", "--rm", "--no-healthcheck", "--network", "none", "--user", user, "--entrypoint", "sh", IMAGE, "-c", script]);
}

interface ImageConfig {
  Size: number;
  Config: { User: string; Env: string[]; Entrypoint: string[]; Cmd: string[] };
  Healthcheck?: { Test: string[] };
  Labels: Record<string, string>;
}

describe("the image at rest", { timeout: 600_000 }, () => {
  after(() => {
    rmSync(scratch, { recursive: true, force: true });
    console.log(`\n[image figures]\n  ${figures.join("\n  ")}\n`);
  });

  it("runs node under tini as the non-root user, keeps its HEALTHCHECK, and holds no secret in its env", async () => {
    const [image] = JSON.parse(await podmanOk(["image", "inspect", IMAGE])) as ImageConfig[];
    assert.ok(image);
    figures.push(`image size, uncompressed: ${mb(image.Size)}`);
    assert.equal(image.Config.User, "node");
    assert.deepEqual(image.Config.Entrypoint, ["/usr/bin/tini", "-s", "--"]);
    assert.deepEqual(image.Config.Cmd, ["node", "src/entrypoint.ts"]);
    assert.match(image.Healthcheck?.Test.join(" ") ?? "", /\/health/, "HEALTHCHECK survives (--format docker)");
    const names = image.Config.Env.map((e) => e.split("=")[0]);
    for (const secret of ["GATEWAY_TOKEN", "FLY_API_TOKEN", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_BEARER_TOKEN_BEDROCK", "TELEGRAM_BOT_TOKEN", "NODE_EXTRA_CA_CERTS", "npm_config_cafile"]) {
      assert.ok(!names.includes(secret), `${secret} is baked into the image`);
    }
    const node = await inImage("node --version && id -un");
    assert.equal(node.stdout, "v24.21.0\nnode\n", node.stderr);
  });

  it("lets the node user write only its home and the temp dirs", async () => {
    // Fly's root filesystem is writable: ownership is what keeps the agent out of /app.
    const run = await inImage("find / -xdev \\( -path /proc -o -path /sys -o -path /dev \\) -prune -o -writable -print 2>/dev/null");
    const allowed = [/^\/home\/node(\/|$)/, /^\/tmp$/, /^\/var\/tmp$/, /^\/run\/lock$/, /^\/var\/lock$/];
    const writable = run.stdout.split("\n").filter(Boolean);
    assert.deepEqual(writable.filter((p) => !allowed.some((a) => a.test(p))), [], "writable by the node user");
    assert.ok(writable.includes("/home/node/.openclaw"), "OpenClaw's state dir is the node user's");
  });

  it("keeps nothing of the build's CA mount or npm configuration", async () => {
    const run = await inImage("ls /run/host-ca.crt /root/.npm /root/.npmrc /home/node/.npm /home/node/.npmrc 2>/dev/null; npm config get cafile; ls -A /home/node/.openclaw", "root");
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(run.stdout.split("\n").filter(Boolean), ["null"], "no CA mount point, npm cache or npmrc, no cafile, nothing in OpenClaw's state");
  });

  it("image:push refuses without FLY_IMAGE_APP or FLY_API_TOKEN, saying which", () => {
    const push = (env: Record<string, string>) => spawnSync("bash", [resolve(IMAGE_DIR, "push.sh")], { env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, encoding: "utf8" });
    const noApp = push({});
    assert.equal(noApp.status, 1);
    assert.match(noApp.stderr, /FLY_IMAGE_APP/);
    const noToken = push({ FLY_IMAGE_APP: "soulprint-agent-test" });
    assert.equal(noToken.status, 1);
    assert.match(noToken.stderr, /FLY_API_TOKEN/);
  });

  it("image:push --archive saves the image it would push as registry.fly.io/<app>:<version> (OCI archive)", async () => {
    const archive = join(scratch, "image.oci.tar");
    const run = spawnSync("bash", [resolve(IMAGE_DIR, "push.sh"), "--archive", archive], {
      env: { ...process.env, FLY_IMAGE_APP: "soulprint-agent-test", FLY_API_TOKEN: "" }, encoding: "utf8", timeout: 300_000,
    });
    assert.equal(run.status, 0, run.stderr);
    const ref = /saved (registry\.fly\.io\/soulprint-agent-test:\S+) to/.exec(run.stdout)?.[1];
    assert.ok(ref, run.stdout);
    const version = (await podmanOk(["image", "inspect", "--format", '{{index .Labels "org.opencontainers.image.version"}}', IMAGE])).trim();
    assert.equal(ref, `registry.fly.io/soulprint-agent-test:${version}`, "tagged with the version the image was built from");
    assert.match(version, /^2026\.9\.6-[0-9a-f]{10}(-dirty)?$/);
    try {
      const index = spawnSync("tar", ["-xOf", archive, "index.json"], { encoding: "utf8" });
      assert.equal(index.status, 0, index.stderr);
      const names = (JSON.parse(index.stdout) as { manifests: { annotations?: Record<string, string> }[] }).manifests.map((m) => m.annotations?.["org.opencontainers.image.ref.name"]);
      assert.ok(names.some((n) => n && ref.endsWith(n)), `the archive names ${ref}: ${names.join(", ")}`);
      // What a registry stores and a machine pulls: the layers gzipped (counted, not written).
      let gzipped = 0;
      await pipeline(createReadStream(archive), createGzip(), new Writable({ write(chunk: Buffer, _e, cb) { gzipped += chunk.length; cb(); } }));
      figures.push(`OCI archive: ${mb(statSync(archive).size)}, gzipped ${mb(gzipped)}`);
      assert.ok(gzipped > 0 && gzipped < statSync(archive).size);
    } finally {
      await podman(["rmi", ref]);
    }
  });

  it("rebuilds a change under src/ without reinstalling OpenClaw (the npm ci layer comes from the cache)", () => {
    const context = join(scratch, "context");
    for (const entry of ["Dockerfile", ".dockerignore", "package.json", "package-lock.json", "src", "image/node-dist"]) {
      cpSync(join(CONTAINER_DIR, entry), join(context, entry), { recursive: true });
    }
    appendFileSync(join(context, "src", "entrypoint.ts"), "\n// a code change\n");
    const tag = `localhost/soulprint-agent:cache-test-${process.pid}`;
    try {
      const run = spawnSync("bash", [resolve(IMAGE_DIR, "build.sh")], {
        env: { ...process.env, SOULPRINT_IMAGE_CONTEXT: context, SOULPRINT_IMAGE: tag }, encoding: "utf8", timeout: 600_000,
      });
      assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`);
      // Buildah prints each step, then "--> Using cache <id>" when it reuses that step's layer.
      const steps = run.stdout.split(/^STEP \d+\/\d+: /m).slice(1);
      const cached = (pattern: RegExp) => {
        const step = steps.find((x) => pattern.test(x.split("\n")[0] ?? ""));
        assert.ok(step, `no step matches ${pattern}`);
        return /^--> Using cache /m.test(step);
      };
      assert.equal(cached(/npm ci --omit=dev/), true, "npm ci ran again for a change under src/");
      assert.equal(cached(/^COPY src /), false, "the changed sources were copied");
    } finally {
      spawnSync("podman", ["rmi", "--force", tag], { env: { ...process.env, CONTAINERS_CONF: resolve(IMAGE_DIR, "containers.conf") }, stdio: "ignore" });
    }
  });
});
