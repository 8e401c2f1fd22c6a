#!/usr/bin/env bash
# Paired A/B of two server builds under the upload load, for when the disk's speed
# changes from one minute to the next (on a shared VM the durable-create limit can move between
# 700 and 12,000 files/s within minutes, so a ratio to a limit measured earlier means little):
#
#   bash benches/upload_ab.sh OLD_BINARY NEW_BINARY   # SLICES=6 SECS=5 CLIENTS=32
#
# Both servers run at once on fresh data folders under /var/tmp; each slice measures the
# durable-create limit (32 threads), then runs the same load (examples/upload_load.rs, POST
# then SOAP) against one server and then the other, swapping the order every slice. Read the
# per-slice NEW/OLD ratios (printed, and their median at the end).
set -euo pipefail
A_BIN=$1
B_BIN=$2
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SLICES=${SLICES:-6}
SECS=${SECS:-5}
CLIENTS=${CLIENTS:-32}
W=${WORK:-/var/tmp/thetorrent-upload-ab-$$}
cd "$ROOT"
. benches/lib.sh
LOAD=$(example_exe upload_load) || exit 1
DC=$(bench_exe durable_create) || exit 1
mkdir -p "$W"
"$A_BIN" serve --data "$W/a" --listen 127.0.0.1:18301 2>"$W/a.log" &
PA=$!
"$B_BIN" serve --data "$W/b" --listen 127.0.0.1:18302 2>"$W/b.log" &
PB=$!
trap 'kill $PA $PB 2>/dev/null; wait 2>/dev/null; rm -rf "$W"' EXIT
sleep 1
SEED=$RANDOM
RATIOS=""
for i in $(seq "$SLICES"); do
    for KIND in post soap; do
        L=$(DURABLE_CREATE_KEEP=1 "$DC" "$W/dc" 1500 32 20480 2>/dev/null | awk '/files\/s/ {print $(NF-1)}')
        rm -rf "$W/dc"
        if [ $((i % 2)) = 1 ]; then order="a b"; else order="b a"; fi
        declare -A R
        for v in $order; do
            port=18301
            [ "$v" = b ] && port=18302
            SEED=$((SEED + 1))
            R[$v]=$("$LOAD" "127.0.0.1:$port" "$KIND" "$CLIENTS" "$SECS" "$SEED" "$W/h-$SEED.txt" | awk '$1 == "RATE" {print $2}')
        done
        q=$(echo "${R[b]} / ${R[a]}" | bc -l)
        RATIOS+=" $q"
        printf 'slice %d %-4s limit %6s/s  old %7.0f/s  new %7.0f/s  new/old %.2f\n' "$i" "$KIND" "$L" "${R[a]}" "${R[b]}" "$q"
    done
done
echo "$RATIOS" | tr ' ' '\n' | grep . | sort -g | awk '{v[NR] = $1} END {printf "median new/old over %d slices: %.2f\n", NR, (v[int((NR + 1) / 2)] + v[int(NR / 2) + 1]) / 2}'
