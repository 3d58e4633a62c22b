#!/usr/bin/env bash
# The image tests (part of `npm test`, after the container package's own): builds the image
# (npm run image; unchanged layers come from the cache) and runs test-image/*.test.ts against it.
# Without Podman, or without root for the debootstrap base, they are skipped with a notice, locally
# only: under CI=true that is a failure. Needs Node >= 22.18 on PATH (run-tests.sh puts 24 there).
set -euo pipefail
source "$(dirname "$0")/podman.sh"

skip() {
  if [ "${CI:-}" = "true" ]; then
    echo "image tests: $1 (CI must build and test the image)" >&2
    exit 1
  fi
  echo "image tests SKIPPED: $1"
  exit 0
}

if ! command -v podman >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    bash "$IMAGE_DIR/install-podman.sh"
  else
    skip "podman is not installed and this user cannot install it (sudo apt-get install -y podman runc debootstrap slirp4netns)"
  fi
fi
if ! podman image exists "$BASE_IMAGE" && { [ "$(id -u)" != 0 ] || ! command -v debootstrap >/dev/null 2>&1; }; then
  skip "the base image $BASE_IMAGE is missing and debootstrap needs root to make it (run npm run image as root once)"
fi

# Every container this run starts carries this label; whatever is left when it ends goes.
export SOULPRINT_TEST_RUN="$$-$RANDOM"
cleanup() {
  podman ps -aq --filter "label=soulprint.test.run=$SOULPRINT_TEST_RUN" | xargs -r podman rm --force --time 0 >/dev/null 2>&1 || true
}
trap cleanup EXIT

t0=$(date +%s)
bash "$IMAGE_DIR/build.sh"
t1=$(date +%s)
cd "$CONTAINER_DIR"
node --test --test-concurrency=1 test-image/*.test.ts
echo "image tests: build $((t1 - t0)) s, tests $(( $(date +%s) - t1 )) s"
