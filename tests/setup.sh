#!/usr/bin/env bash
# Installs everything the tests use (idempotent): Debian packages (needs root; CI runs as
# root) and the Python clients. Tests that need one of these fail when it is missing.
set -euo pipefail
APT_PKGS=(curl aria2 bc php-cli php-soap php-curl libsoap-lite-perl)
PIP_PKGS=(zeep==4.3.3 requests)
missing=()
for p in "${APT_PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
python3 -c 'import zeep, requests' 2>/dev/null || {
  echo "setup: pip install ${PIP_PKGS[*]}"
  python3 -m pip install -q --disable-pip-version-check "${PIP_PKGS[@]}"
}
