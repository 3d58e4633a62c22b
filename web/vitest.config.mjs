// Unit tests of the browser app's pure parts (Markdown, chat state, backoff, formatting).
// Plain Node: nothing here needs a DOM or the Workers runtime.
//   npx vitest run --config web/vitest.config.mjs
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  // Keep Vite's cache with the project's other caches rather than in a web/node_modules.
  cacheDir: fileURLToPath(new URL("../node_modules/.vite-web", import.meta.url)),
  test: {
    include: ["**/*.test.ts"],
    exclude: ["**/node_modules/**"],
    environment: "node",
  },
});
