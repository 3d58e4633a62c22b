#!/usr/bin/env bash
# `npm run image:push`: pushes the image `npm run image` built to Fly's registry as
#   registry.fly.io/$FLY_IMAGE_APP:<openclaw version>-<commit>
# with FLY_API_TOKEN (user "x"; the token goes to Podman on stdin into a throwaway auth file, never
# on a command line or in a log). FLY_IMAGE_APP is a Fly app of the users' org that only holds
# images (fly apps create soulprint-agent --org <org>); every user's app can pull from it.
#
#   --archive <file>  do everything but the push: tag, check, and save the image that would be pushed
#                     as an OCI archive (podman save --format oci-archive). No token needed.
set -euo pipefail
source "$(dirname "$0")/podman.sh"

archive=""
if [ "${1:-}" = "--archive" ]; then
  archive="${2:?--archive needs a file name}"
fi

app="${FLY_IMAGE_APP:-}"
if [ -z "$app" ]; then
  echo "image:push: set FLY_IMAGE_APP to the Fly app that holds the images (e.g. soulprint-agent)" >&2
  exit 1
fi
if [ -z "$archive" ] && [ -z "${FLY_API_TOKEN:-}" ]; then
  echo "image:push: set FLY_API_TOKEN (fly tokens create org, or fly auth token) to push to registry.fly.io" >&2
  exit 1
fi
if ! podman image exists "$IMAGE_NAME"; then
  echo "image:push: $IMAGE_NAME does not exist: run npm run image first" >&2
  exit 1
fi

# The tag names a commit: refuse an image built from other sources than the ones checked out now,
# and a tree with uncommitted changes (nobody could rebuild that image). IMAGE_VERSION overrides.
version="${IMAGE_VERSION:-$(image_version)}"
built="$(podman image inspect --format '{{index .Labels "org.opencontainers.image.version"}}' "$IMAGE_NAME")"
if [ -z "${IMAGE_VERSION:-}" ]; then
  # A dry run (--archive) may carry a -dirty tag: it goes nowhere.
  [ -n "$archive" ] || case "$version" in *-dirty) echo "image:push: container/ has uncommitted changes; commit them (or set IMAGE_VERSION)" >&2; exit 1 ;; esac
  if [ "$built" != "$version" ]; then
    echo "image:push: $IMAGE_NAME was built from $built, the checkout is $version: run npm run image again" >&2
    exit 1
  fi
fi

ref="registry.fly.io/$app:$version"
podman tag "$IMAGE_NAME" "$ref"

if [ -n "$archive" ]; then
  rm -f "$archive"
  podman save --format oci-archive -o "$archive" "$ref"
  echo "image:push: saved $ref to $archive ($(stat -c %s "$archive") bytes); not pushed"
  exit 0
fi

auth_dir="$(mktemp -d)"
trap 'rm -rf "$auth_dir"' EXIT
export REGISTRY_AUTH_FILE="$auth_dir/auth.json"
printf '%s' "$FLY_API_TOKEN" | podman login --username x --password-stdin registry.fly.io >/dev/null
podman push --format v2s2 "$ref"
echo "image:push: pushed $ref"
echo "Set it in wrangler.toml [vars]: CLAWDBOT_IMAGE = \"$ref\" and deploy the Worker."
