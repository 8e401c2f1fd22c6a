#!/usr/bin/env bash
# Installs everything the tests use (idempotent). Debian packages need root (CI runs as root).
set -euo pipefail
APT_PKGS=(curl aria2 python3-pip)
missing=()
for p in "${APT_PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true
