#!/usr/bin/env bash
# Fetching missing torrents from a libtorrent swarm on loopback: time from a GET of a missing
# hash to the answer (DHT, and x.pe), median and p99 over N hashes; N fetches at once; memory
# per job in flight. Needs libtorrent 2.1.1 (tests/setup.sh). Uses 127.0.2.60-127.0.2.71.
# usage: benches/fetch.sh [N=100]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
exec python3 benches/fetch.py "$PWD/target/release/thetorrent" "${1:-100}"
