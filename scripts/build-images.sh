#!/usr/bin/env bash
# Builds the edge and rtpengine images (k8s/images/*.Containerfile) from Debian 12 packages
# and this repository only: no registry. The base is a debootstrap of Debian's mirror (the
# one apt uses here), cached as var/images/debian-bookworm-minbase.tar and imported into the
# project's podman store (scripts/podman-edge), where the package layers stay cached too.
# Package versions are pinned to apt's candidates and recorded in each image's
# org.agent-edge.packages label. A second run reuses every layer whose inputs did not change.
#   scripts/build-images.sh            build (or reuse) all three
#   EDGE_IMAGE_TAG=0.1.0               tag of the edge and rtpengine images
set -euo pipefail
cd "$(dirname "$0")/.."
tag="${EDGE_IMAGE_TAG:-0.1.0}"
work="${EDGE_IMAGES_DIR:-$PWD/var/images}"
podman=(scripts/podman-edge)
base=localhost/agent-edge/debian-base:bookworm
mkdir -p "$work"

# Debian's mirror from apt's own sources (deb822 or one-line format).
mirror=$( (grep -hsE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list || true) \
  | grep -oE 'https?://[^ ]+/debian/?' | head -n1)
mirror="${mirror:-http://deb.debian.org/debian}"

tarball="$work/debian-bookworm-minbase.tar"
if [ ! -f "$tarball" ]; then
  echo "build-images: debootstrap bookworm from $mirror"
  rootfs="$work/rootfs"
  rm -rf "$rootfs"
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$work/debootstrap.log"
  # The same suites as the host (updates, security), so apt's candidates resolve inside.
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    cp /etc/apt/sources.list.d/debian.sources "$rootfs/etc/apt/sources.list.d/"
    rm -f "$rootfs/etc/apt/sources.list"
  fi
  # Packages must not try to start services during the image build.
  printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
  chmod +x "$rootfs/usr/sbin/policy-rc.d"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar --numeric-owner -C "$rootfs" -cf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
  rm -rf "$rootfs"
fi
if ! "${podman[@]}" image exists "$base"; then
  "${podman[@]}" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "LABEL org.agent-edge.base=debootstrap-minbase-bookworm" \
    "$tarball" "$base" >/dev/null
fi

# name=version for each package, as apt resolves it on this machine.
pins() {
  local p v out=()
  for p in "$@"; do
    v=$(apt-cache policy "$p" | awk '/Candidate:/ {print $2}')
    if [ -z "$v" ] || [ "$v" = "(none)" ]; then echo "build-images: no candidate for $p" >&2; exit 1; fi
    out+=("$p=$v")
  done
  echo "${out[*]}"
}

edge_packages=$(pins kamailio kamailio-python3-modules kamailio-websocket-modules kamailio-tls-modules \
  kamailio-utils-modules kamailio-extra-modules kamailio-json-modules \
  python3 python3-redis python3-hiredis python3-prometheus-client redis-server redis-tools netbase)
rtpengine_packages=$(pins rtpengine-daemon python3 python3-redis netbase)

build() {  # name packages
  "${podman[@]}" build --network host --layers --pull=never \
    --build-arg "BASE=$base" --build-arg "PACKAGES=$2" \
    -f "k8s/images/$1.Containerfile" -t "localhost/agent-edge/$1:$tag" .
}
build edge "$edge_packages"
build rtpengine "$rtpengine_packages"
echo "build-images: localhost/agent-edge/edge:$tag localhost/agent-edge/rtpengine:$tag"
