#!/usr/bin/env bash
# GET p99 latency under upload load, for several nice values of the upload committer thread
# of ONE running server (the measurement behind the default `--writer-nice 0`):
#
#   WITH_BENCH=1 bash tests/setup.sh          # wrk (Debian)
#   bash benches/p99_nice.sh [NICE...]        # default: -10 0 -10 0 -10 0; REPS=2 SECS=6
#
# One release server on a fresh data folder under /var/tmp (all 65,536 shard folders made
# first, as in upload.sh). For each NICE in turn the committer thread is reniced (root, or
# CAP_SYS_NICE, for negative values), then REPS times: wrk -c16 over the stored hashes alone,
# then again while 32 clients upload over HTTP POST (examples/upload_load.rs). Each line gives
# both p99s, their ratio and the upload rate meanwhile. The values are alternated in one run
# because the disk's speed drifts from one minute to the next: compare neighbours.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
REPS=${REPS:-2}
SECS=${SECS:-6}
PORT=${PORT:-18196}
ADDR=127.0.0.1:$PORT
WORK=${WORK:-/var/tmp/thetorrent-p99-nice-$$}
[ $# -gt 0 ] || set -- -10 0 -10 0 -10 0
cd "$ROOT"
. benches/lib.sh
need_tools wrk python3 curl renice
cargo build --release --quiet
BIN=$ROOT/target/release/thetorrent
LOAD=$(example_exe upload_load) || exit 1

stop_on_exit
mkdir -p "$WORK/hashes"
make_shard_folders "$WORK/data/torrents"
"$BIN" serve --data "$WORK/data" --listen "$ADDR" 2>"$WORK/server.log" &
SERVER=$!
PIDS+=("$SERVER")
wait_healthy "$ADDR" "$SERVER" "$WORK/server.log" || exit 1
COMMITTER=""
for t in /proc/"$SERVER"/task/*; do
    [ "$(cat "$t/comm")" = thetorrent-comm ] && COMMITTER=$(basename "$t")
done
[ -n "$COMMITTER" ] || { echo "no committer thread found" >&2; exit 1; }
"$LOAD" "$ADDR" post 32 4 1 "$WORK/hashes/1.txt" >/dev/null
write_get_lua "$WORK/get.lua" "$WORK/all.txt"
p99() { # in ms
    to_ms "$(wrk -t1 -c16 -d"${SECS}s" --latency -s "$WORK/get.lua" "http://$ADDR" | awk '$1 == "99%" {print $2}')"
}
SEED=1
for nice in "$@"; do
    renice -n "$nice" -p "$COMMITTER" >/dev/null
    for _ in $(seq "$REPS"); do
        cat "$WORK"/hashes/*.txt | grep . >"$WORK/all.txt"
        wrk -t1 -c16 -d2s -s "$WORK/get.lua" "http://$ADDR" >/dev/null # page cache
        ALONE=$(p99)
        SEED=$((SEED + 1))
        "$LOAD" "$ADDR" post 32 $((SECS + 2)) "$SEED" "$WORK/hashes/$SEED.txt" >"$WORK/load.out" &
        LOADER=$!
        PIDS+=("$LOADER")
        sleep 1
        UNDER=$(p99)
        wait "$LOADER"
        printf 'committer nice %3d: GET p99 alone %6.2f ms, under uploads %6.2f ms, ratio %.2f; uploads %s/s\n' \
            "$nice" "$ALONE" "$UNDER" "$(echo "$UNDER / $ALONE" | bc -l)" "$(awk '$1 == "RATE" {print $2}' "$WORK/load.out")"
    done
done
