#!/usr/bin/env bash
# Memory and CPU a crowd of clients can take from the server (examples/resource_bounds.rs),
# each scenario on a fresh `thetorrent serve` (release, or BIN: an older build to compare
# with; SERVER_ARGS are added to its options):
# - budget 200 and 1,000: that many max-size (10 MiB) multipart uploads at once: peak RSS
#   against the idle RSS and the body budget (256 MiB by default), and the answers;
# - soap 200: the same with SOAP bodies (base64: 14 MB each);
# - burst 800: three rounds of 800 multipart uploads of 2 MiB held at once: RSS after each;
# - pages 32: 32 clients on the page of a 280,000-file torrent for 10 s: pages/s, /healthz
#   and download latency meanwhile.
#
#   bash benches/resource_bounds.sh            # SCENARIOS="budget:200 budget:1000 soap:200 burst:800 pages:32"
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SCENARIOS=${SCENARIOS:-budget:200 budget:1000 soap:200 burst:800 pages:32}
. "$ROOT/benches/lib.sh"
cd "$ROOT"
cargo build --release --quiet
BIN=${BIN:-$ROOT/target/release/thetorrent}
CLIENT=$(example_exe resource_bounds) || exit 1
# One thread per upload on the client side, and as many connections on the server.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
echo "$(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg); $BIN ${SERVER_ARGS:-}"
for s in $SCENARIOS; do
    # shellcheck disable=SC2086
    "$CLIENT" "$BIN" "${s%%:*}" "${s##*:}" -- ${SERVER_ARGS:-}
done
