#!/usr/bin/env bash
# Installs what the integration tests (and benches/serve.sh) need. Idempotent: safe to run
# again; installs only what is missing. Run as root (apt-get) on a Debian machine.
set -euo pipefail

need_apt=()
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v aria2c >/dev/null 2>&1 || need_apt+=(aria2)
command -v systemd-socket-activate >/dev/null 2>&1 || need_apt+=(systemd)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3 python3-pip)
if [ "${WITH_BENCH:-0}" = 1 ]; then
    command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)
    command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need_apt+=(nginx-light)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi

if ! python3 -c 'import requests' >/dev/null 2>&1; then
    python3 -m pip install --quiet requests 2>/dev/null \
        || python3 -m pip install --quiet --break-system-packages requests
fi

echo "setup: curl $(command -v curl), aria2c $(command -v aria2c), python3 requests OK"
