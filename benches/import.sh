#!/usr/bin/env bash
# Bulk import throughput: `thetorrent import` of N generated torrents (log-normal sizes,
# 5-200 KB, median ~20 KB) against `cp -r` of the same folder followed by `sync`, in one run.
# Every file imported is durable when import exits (batched syncfs), so `cp -r && sync` is the
# fair floor.  usage: benches/import.sh [N=20000] [WORKDIR=/var/tmp/thetorrent-bench]
set -uo pipefail
N=${1:-20000}
WORK=${2:-/var/tmp/thetorrent-bench}
cd "$(dirname "$0")/.."
cargo build --release --quiet
BIN=$PWD/target/release/thetorrent
SRC=$WORK/src-$N
mkdir -p "$WORK"
if [ ! -f "$SRC.done" ]; then
  rm -rf "$SRC"; python3 benches/gen_torrents.py "$SRC" "$N"; touch "$SRC.done"
fi
echo "corpus: $N files, $(du -sh --apparent-size "$SRC" | cut -f1) in $SRC"
cat "$SRC"/*/* > /dev/null   # same page-cache state for both runs
sync

# Fresh target folders, and nothing deleted just before: ext4 skips recently deleted inodes
# when allocating (`recently_deleted`), which slows whichever run follows a big `rm -rf`.
RUN=$WORK/run-$$
mkdir -p "$RUN"
t0=$(date +%s.%N)
/usr/bin/time -f "%M" -o "$RUN/rss" "$BIN" --data "$RUN/data" import --quiet "$SRC" | head -1
t1=$(date +%s.%N)
IMP=$(echo "$t1 - $t0" | bc -l)
COUNT=$("$BIN" --data "$RUN/data" count)
[ "$COUNT" -eq "$N" ] || { echo "count $COUNT != $N"; exit 1; }
t0=$(date +%s.%N); cp -r "$SRC" "$RUN/cp"; sync; t1=$(date +%s.%N)
CP=$(echo "$t1 - $t0" | bc -l)
printf 'cp -r + sync : %6.2f s  %8.0f files/s\n' "$CP" "$(echo "$N / $CP" | bc -l)"
printf 'import       : %6.2f s  %8.0f files/s  (max RSS %s KB)\n' "$IMP" "$(echo "$N / $IMP" | bc -l)" "$(cat "$RUN/rss")"
printf 'import / (cp + sync) time ratio: %.2f (goal <= 1.5)\n' "$(echo "$IMP / $CP" | bc -l)"
rm -rf "$RUN"
