/**
 * `npm run size`: the Worker as Cloudflare would receive it (wrangler's own bundling, minified), raw and
 * gzip. The free plan's limit is 3 MB gzip.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

const outdir = mkdtempSync(join(tmpdir(), "soulprint-size-"));
try {
  execFileSync("node_modules/.bin/wrangler", ["deploy", "--dry-run", "--minify", "--outdir", outdir], {
    stdio: ["ignore", "ignore", "inherit"],
    env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
  });
  let raw = 0;
  let gzip = 0;
  for (const file of readdirSync(outdir)) {
    if (!/\.(js|mjs)$/.test(file)) continue;
    const bytes = readFileSync(join(outdir, file));
    raw += statSync(join(outdir, file)).size;
    gzip += gzipSync(bytes, { level: 9 }).byteLength;
  }
  const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
  console.log(`Worker bundle (minified): ${kib(raw)} raw, ${kib(gzip)} gzip — ${((gzip / (3 * 1024 * 1024)) * 100).toFixed(1)}% of the 3 MB free-plan limit`);
} finally {
  rmSync(outdir, { recursive: true, force: true });
}
