#!/usr/bin/env bash
# The container package's tests, from a clean checkout: install (npm ci) and run them with the real
# OpenClaw. Callable from the repository root: `container/run-tests.sh`.
set -euo pipefail
cd "$(dirname "$0")"

export OPENCLAW_DISABLE_BONJOUR=1 OPENCLAW_NO_AUTO_UPDATE=1

# OpenClaw's install scripts refuse Node < 24.16, and npm runs install scripts with the first
# `node` on PATH, which here may be the system's Node 20 or the root package's Node 22. So: install
# without scripts, fetch this package's own Node 24 (the npm package "node"), then run the other
# packages' install scripts with that Node first on PATH.
npm ci --no-audit --no-fund --ignore-scripts
npm rebuild node --no-audit --no-fund
export PATH="$PWD/node_modules/.bin:$PATH"
node --version
scripted=$(npm query ':attr(scripts, [preinstall]), :attr(scripts, [install]), :attr(scripts, [postinstall])' \
  | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log([...new Set(JSON.parse(s).map(p=>p.name))].filter(n=>n!=="node").join(" ")))')
if [ -n "$scripted" ]; then
  # shellcheck disable=SC2086
  npm rebuild $scripted --no-audit --no-fund
fi

# Both suites run even when the first fails, so one run shows every failure; either fails the script.
status=0
npm test || status=$?

# The built image under test (podman): skipped with a notice where Podman cannot run, except in CI.
bash image/test.sh || status=$?
exit "$status"
