#!/usr/bin/env bash
# Podman and what the image build and tests need here, from Debian's packages (root only; ~30 s).
# runc: crun cannot run containers on these VMs; slirp4netns: the tests' network to host loopback.
set -euo pipefail
if [ "$(id -u)" != 0 ]; then
  echo "install-podman: needs root (sudo apt-get install -y podman runc debootstrap slirp4netns)" >&2
  exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  podman runc conmon containernetworking-plugins slirp4netns fuse-overlayfs debootstrap >/dev/null
podman --version
