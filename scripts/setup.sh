#!/usr/bin/env bash
# Installs what the edge and its tests need, idempotently: Debian packages, then the
# project's Python venv. A second run finds everything present and takes about a second.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  kamailio kamailio-python3-modules kamailio-websocket-modules kamailio-tls-modules
  kamailio-utils-modules kamailio-extra-modules kamailio-json-modules
  rtpengine-daemon sip-tester redis-server
  python3 python3-venv python3-redis python3-prometheus-client python3-yaml python3-matplotlib prometheus
  python3-hiredis  # redis-py parses replies in C with it: less CPU per Redis round trip in every worker
  iproute2 procps curl
  chromium haproxy openssl
)
# k8s/: kubectl renders the overlays (kustomize) in the tests; the images build with podman
# from a debootstrap base (catatonit: podman kube play's pause image). A kubectl already
# installed by another package is kept (kubernetes-client would collide with it).
APT_PACKAGES+=(podman runc catatonit debootstrap)
if ! command -v kubectl >/dev/null; then APT_PACKAGES+=(kubernetes-client); fi
APT_PACKAGES+=(${EDGE_EXTRA_APT_PACKAGES:-})

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  # The edge runs its own Redis, rtpengine and Kamailio: keep the packages' system services
  # from starting (and taking ports 5060/6379) while they install.
  policy=/usr/sbin/policy-rc.d
  created_policy=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod +x "$policy"
    created_policy=1
  fi
  $SUDO apt-get update -q
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  if [ -n "$created_policy" ]; then $SUDO rm -f "$policy"; fi
fi

# The KEMI app runs on Debian's libpython3.11, so the venv uses that same interpreter and
# sees the Debian python3-redis/prometheus-client the workers import.
if [ ! -x .venv/bin/python ]; then
  /usr/bin/python3 -m venv --system-site-packages .venv
fi
stamp=.venv/.requirements.sha256
want=$(sha256sum requirements-dev.txt | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  .venv/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
  echo "$want" > "$stamp"
fi

# Browser SIP clients (JsSIP, SIP.js) from npm, bundled with esbuild into web/dist for the
# softphone page and the browser tests; redone only when the lock file changes.
if ! command -v npm >/dev/null; then
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nodejs npm
fi
web_stamp=web/node_modules/.lock.sha256
web_want=$(sha256sum web/package-lock.json | cut -d' ' -f1)
if [ ! -f "$web_stamp" ] || [ "$(cat "$web_stamp")" != "$web_want" ] || [ ! -f web/dist/jssip.min.js ] \
   || [ ! -f web/dist/sipjs.min.js ]; then
  (cd web && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build)
  echo "$web_want" > "$web_stamp"
fi
