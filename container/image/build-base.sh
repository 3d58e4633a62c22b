#!/usr/bin/env bash
# The image's base without a registry: Debian bookworm (minbase) made with debootstrap and imported
# into Podman as $BASE_IMAGE. Skipped when that image already exists (it is the slow, stable part).
# Needs root (debootstrap) and the debootstrap package.
set -euo pipefail
source "$(dirname "$0")/podman.sh"

if podman image exists "$BASE_IMAGE"; then
  echo "base: $BASE_IMAGE exists (podman rmi it to rebuild)"
  exit 0
fi

# The Debian mirror this machine's apt uses (deb822 or one-line sources), else Debian's CDN.
mirror="$(grep -hoE '^(URIs:|deb) +[^ ]+' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
  | awk '{print $2}' | grep -v -- '-security' | head -n1 || true)"
mirror="${mirror:-http://deb.debian.org/debian}"

root="$(mktemp -d /tmp/soulprint-base.XXXXXX)"
trap 'rm -rf "$root"' EXIT
echo "base: debootstrap --variant=minbase bookworm from $mirror"
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$root.log" 2>&1 || { tail -n 30 "$root.log" >&2; rm -f "$root.log"; exit 1; }
rm -f "$root.log"
# What an official slim image leaves out too: apt's caches and lists, docs, man pages.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/tmp/*
tar --numeric-owner -C "$root" -c . | podman import --change 'CMD ["/bin/bash"]' - "$BASE_IMAGE" >/dev/null
echo "base: $BASE_IMAGE imported ($(podman image inspect --format '{{.Size}}' "$BASE_IMAGE") bytes)"
