#!/usr/bin/env bash
# Upload benchmark, loopback only (127.0.0.1), on a fresh data folder under /var/tmp
# (not /tmp, which may be tmpfs):
#
#   WITH_BENCH=1 bash tests/setup.sh     # wrk (Debian)
#   bash benches/upload.sh     # ROUNDS=3 UPLOAD_SECONDS=8 WRK_SECONDS=8 CLIENTS=32 WRK_CONNS=16
#                              # THETORRENT_BIN=path: that server binary instead of a fresh build
#
# `thetorrent serve` (release) runs on a fresh data folder. The machine is shared, so the
# figures are taken in ROUNDS rounds, each measuring everything it compares back to back, and
# the median of each figure and ratio is reported. One round:
# 1. The disk's durable-create limit, from a plain program (write + fsync + rename + folder
#    fsync per 20 KB file, 32 threads; round 1 also shows 1 and 2 threads, and the limit is the
#    best of the three): `cargo bench --bench durable_create -- DIR FILES THREADS`.
# 2. CLIENTS concurrent keep-alive clients (examples/upload_load.rs) upload distinct generated
#    ~20 KB torrents for UPLOAD_SECONDS over HTTP POST (multipart), then over SOAP: uploads/s
#    of each and the ratio to the limit (goal >= 0.70).
# 3. GET p99 latency of random stored torrents (wrk --latency, WRK_CONNS connections, Lua
#    script over the hashes stored so far) alone, then while a POST upload load runs: both
#    p99 and their ratio (goal <= 2).
# The load client, wrk and the server share the machine's cores. Everything started here is
# stopped and the folder removed on exit.
# The store starts in its steady state: all 65,536 shard folders exist, as in any store past
# its first few hundred thousand torrents (FRESH=1: an empty store instead, whose first
# uploads also create the folders), and a WARMUP-second upload load (default 3) runs before
# round 1.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${ROUNDS:-3}
UPLOAD_SECONDS=${UPLOAD_SECONDS:-8}
WRK_SECONDS=${WRK_SECONDS:-8}
WRK_CONNS=${WRK_CONNS:-16}
CLIENTS=${CLIENTS:-32}
DC_FILES=${DC_FILES:-1500}
FRESH=${FRESH:-0}
WARMUP=${WARMUP:-3}
PORT=${PORT:-18193}
WORK=${WORK:-/var/tmp/thetorrent-upload-bench-$$}
ADDR=127.0.0.1:$PORT

cd "$ROOT"
. benches/lib.sh
need_tools wrk python3 curl
stop_on_exit
# THETORRENT_BIN=path runs another build of the server (e.g. to compare two commits).
if [ -n "${THETORRENT_BIN:-}" ]; then
    BIN=$THETORRENT_BIN
else
    cargo build --release --quiet
    BIN=$ROOT/target/release/thetorrent
fi
LOAD=$(example_exe upload_load) || exit 1
mkdir -p "$WORK"
echo "work folder: $WORK ($(df -T "$WORK" | awk 'NR==2 {print $2}'))"

# ---- the server ---------------------------------------------------------------------
if [ "$FRESH" != 1 ]; then
    echo "creating the 65,536 shard folders (steady state; FRESH=1 skips this)"
    make_shard_folders "$WORK/data/torrents"
fi
"$BIN" serve --data "$WORK/data" --listen "$ADDR" 2>"$WORK/server.log" &
SERVER=$!
PIDS+=("$SERVER")
wait_healthy "$ADDR" "$SERVER" "$WORK/server.log" || exit 1

write_get_lua "$WORK/get.lua" "$WORK/hashes.txt"
run_wrk() {
    wrk -t1 -c"$WRK_CONNS" -d"${WRK_SECONDS}s" --latency -s "$WORK/get.lua" "http://$ADDR" >"$WORK/wrk.out"
    if grep -q "Non-2xx\|Socket errors" "$WORK/wrk.out"; then
        cat "$WORK/wrk.out" >&2
        echo "GET errors" >&2
        exit 1
    fi
    echo "$(to_ms "$(awk '$1 == "99%" {print $2}' "$WORK/wrk.out")") $(awk '$1 == "Requests/sec:" {print $2}' "$WORK/wrk.out")"
}
rate() { awk '$1 == "RATE" {print $2}'; }
median() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
div() { echo "$1 / $2" | bc -l; }

SEED=1000
if [ "$WARMUP" -gt 0 ]; then
    "$LOAD" "$ADDR" post "$CLIENTS" "$WARMUP" 999 "$WORK/hashes-999.txt" | grep -v '^RATE' | sed 's/^/warm-up /'
fi
R_LIMIT="" R_POST="" R_SOAP="" R_PA="" R_PL="" R_POSTQ="" R_SOAPQ="" R_PQ=""
for round in $(seq "$ROUNDS"); do
    echo "== round $round/$ROUNDS (load average $(cut -d' ' -f1-3 /proc/loadavg))"
    threads=32
    [ "$round" = 1 ] && threads=1,2,32
    # The reference's files stay until the end (see benches/durable_create.rs: deleting them
    # now would slow the server's inode allocation in the next seconds).
    DC_OUT=$(DURABLE_CREATE_KEEP=1 cargo bench --quiet --bench durable_create -- "$WORK/dc" "$DC_FILES" "$threads" 20480 2>/dev/null)
    echo "$DC_OUT"
    LIMIT=$(echo "$DC_OUT" | awk '/files\/s/ {v = $(NF-1); if (v > m) m = v} END {print m + 0}')

    SEED=$((SEED + 1))
    OUT=$("$LOAD" "$ADDR" post "$CLIENTS" "$UPLOAD_SECONDS" "$SEED" "$WORK/hashes-$SEED.txt")
    echo "$OUT" | grep -v '^RATE'
    POST=$(echo "$OUT" | rate)
    SEED=$((SEED + 1))
    OUT=$("$LOAD" "$ADDR" soap "$CLIENTS" "$UPLOAD_SECONDS" "$SEED" "$WORK/hashes-$SEED.txt")
    echo "$OUT" | grep -v '^RATE'
    SOAP=$(echo "$OUT" | rate)

    cat "$WORK"/hashes-*.txt | grep . >"$WORK/hashes.txt"
    STORED=$(wc -l <"$WORK/hashes.txt")
    COUNT=$(curl -sf "http://$ADDR/api/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])')
    [ "$STORED" -eq "$COUNT" ] || { echo "count $COUNT disagrees with $STORED stored answers" >&2; exit 1; }

    wrk -t1 -c"$WRK_CONNS" -d2s -s "$WORK/get.lua" "http://$ADDR" >/dev/null # page cache
    read -r PA RA < <(run_wrk)
    echo "GET alone:        p99 $PA ms, $RA requests/s ($WRK_CONNS connections)"
    SEED=$((SEED + 1))
    "$LOAD" "$ADDR" post "$CLIENTS" "$((WRK_SECONDS + 2))" "$SEED" "$WORK/hashes-$SEED.txt" >"$WORK/load.out" &
    LOADER=$!
    PIDS+=("$LOADER")
    sleep 1
    read -r PL RL < <(run_wrk)
    wait "$LOADER" || { cat "$WORK/load.out"; echo "upload load failed" >&2; exit 1; }
    echo "GET under upload: p99 $PL ms, $RL requests/s; meanwhile $(grep -v '^RATE' "$WORK/load.out")"

    R_LIMIT+=" $LIMIT" R_POST+=" $POST" R_SOAP+=" $SOAP" R_PA+=" $PA" R_PL+=" $PL"
    R_POSTQ+=" $(div "$POST" "$LIMIT")" R_SOAPQ+=" $(div "$SOAP" "$LIMIT")" R_PQ+=" $(div "$PL" "$PA")"
    printf 'round %d: limit %.0f/s, POST %.0f/s (%.2f), SOAP %.0f/s (%.2f), GET p99 %.2f -> %.2f ms (%.2f)\n' \
        "$round" "$LIMIT" "$POST" "$(div "$POST" "$LIMIT")" "$SOAP" "$(div "$SOAP" "$LIMIT")" \
        "$PA" "$PL" "$(div "$PL" "$PA")"
done

echo
echo "medians of $ROUNDS rounds (load average now $(cut -d' ' -f1-3 /proc/loadavg)):"
printf 'durable-create limit (best of 1/2/32 threads):  %6.0f files/s\n' "$(echo "$R_LIMIT" | median)"
printf 'HTTP POST uploads, %d clients:                  %6.0f uploads/s  ratio %.2f (goal >= 0.70)\n' \
    "$CLIENTS" "$(echo "$R_POST" | median)" "$(echo "$R_POSTQ" | median)"
printf 'SOAP uploads, %d clients:                       %6.0f uploads/s  ratio %.2f (goal >= 0.70)\n' \
    "$CLIENTS" "$(echo "$R_SOAP" | median)" "$(echo "$R_SOAPQ" | median)"
printf 'GET p99 alone / under upload load:  %.2f ms / %.2f ms  ratio %.2f (goal <= 2)\n' \
    "$(echo "$R_PA" | median)" "$(echo "$R_PL" | median)" "$(echo "$R_PQ" | median)"
