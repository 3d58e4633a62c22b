#!/usr/bin/env node
/**
 * Builds the browser app into public/ (served by the Worker as static assets):
 *   web/main.ts (+ imports)  → public/app.js (+ app.js.map), bundled and minified by esbuild
 *   web/index.html, web/styles.css, web/favicon.svg → copied as they are
 *
 *   node scripts/build-web.mjs           one build (< 1 s)
 *   node scripts/build-web.mjs --watch   rebuild on every change under web/
 */
import { copyFile, mkdir } from "node:fs/promises";
import { watch } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const webDir = join(root, "web");
const outDir = join(root, "public");
const STATIC_FILES = ["index.html", "styles.css", "favicon.svg", "_headers"];

/** @type {import("esbuild").BuildOptions} */
const options = {
  entryPoints: [join(webDir, "main.ts")],
  outfile: join(outDir, "app.js"),
  bundle: true,
  format: "iife",
  platform: "browser",
  target: "es2022",
  minify: true,
  sourcemap: true,
  legalComments: "none",
  logLevel: "warning",
  tsconfig: join(webDir, "tsconfig.json"),
};

async function copyStatic() {
  await mkdir(outDir, { recursive: true });
  await Promise.all(STATIC_FILES.map((f) => copyFile(join(webDir, f), join(outDir, f))));
}

const watchMode = process.argv.includes("--watch");
const started = performance.now();

if (!watchMode) {
  await copyStatic();
  await esbuild.build(options);
  console.log(`web: built public/app.js in ${Math.round(performance.now() - started)} ms`);
} else {
  await copyStatic();
  const ctx = await esbuild.context(options);
  await ctx.watch();
  // esbuild watches the bundle's inputs; the copied files are watched here.
  watch(webDir, (_event, file) => {
    if (file && STATIC_FILES.includes(file)) {
      copyStatic().then(
        () => console.log(`web: copied ${file}`),
        (err) => console.error(`web: copy failed: ${err.message}`),
      );
    }
  });
  console.log("web: watching web/ (Ctrl+C to stop)");
}
