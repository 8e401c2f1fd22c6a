#!/usr/bin/env bash
# Installs everything the tests use (idempotent; installs only what is missing): Debian
# packages (needs root; CI runs as root) and the Python clients. Tests that need one of these
# fail when it is missing. WITH_BENCH=1 also installs what benches/*.sh use (wrk, nginx).
set -euo pipefail
APT_PKGS=(curl aria2 bc systemd python3-pip php-cli php-soap php-curl libsoap-lite-perl)
if [ "${WITH_BENCH:-0}" = 1 ]; then APT_PKGS+=(wrk nginx-light linux-perf); fi
PIP_PKGS=(zeep==4.3.3 requests)
missing=()
for p in "${APT_PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! python3 -c 'import zeep, requests' 2>/dev/null; then
  echo "setup: pip install ${PIP_PKGS[*]}"
  python3 -m pip install -q --disable-pip-version-check "${PIP_PKGS[@]}" 2>/dev/null \
    || python3 -m pip install -q --disable-pip-version-check --break-system-packages "${PIP_PKGS[@]}"
fi
echo "setup: ok"
