# Sourced by the image scripts: the Podman environment of this project and the image's names.
# Podman here needs runc and lower ulimits (containers.conf); the caller's own CONTAINERS_CONF wins.
IMAGE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CONTAINER_DIR="$(dirname "$IMAGE_DIR")"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$IMAGE_DIR/containers.conf}"

# The local name every script and test uses; `npm run image:push` retags it for Fly's registry.
IMAGE_NAME="${SOULPRINT_IMAGE:-localhost/soulprint-agent:dev}"
# The debootstrap base (no registry needed); cached: built once per machine.
BASE_IMAGE="${SOULPRINT_BASE_IMAGE:-localhost/soulprint-debian-base:bookworm}"

# Versions come from container/package.json, so the image runs the Node the tests ran.
pkg_field() { node -e 'const p=require(process.argv[1]);const v=process.argv[2].split(".").reduce((o,k)=>o?.[k],p);if(!v)process.exit(1);console.log(v)' "$CONTAINER_DIR/package.json" "$1"; }
NODE_VERSION="$(pkg_field devDependencies.node)"
OPENCLAW_VERSION="$(pkg_field dependencies.openclaw)"
# npm for the debootstrap base (the official node image brings its own).
NPM_VERSION="${SOULPRINT_NPM_VERSION:-11.21.2}"

# Immutable tag for the registry: OpenClaw's version + the last commit that changed container/ (a
# commit elsewhere does not move users to a new tag); a dirty container/ is marked.
image_version() {
  local sha
  sha="$(git -C "$CONTAINER_DIR" log -1 --format=%h --abbrev=10 -- . 2>/dev/null || true)"
  sha="${sha:-nogit}"
  if [ -n "$(git -C "$CONTAINER_DIR" status --porcelain -- . 2>/dev/null)" ]; then sha="$sha-dirty"; fi
  echo "$OPENCLAW_VERSION-$sha"
}
