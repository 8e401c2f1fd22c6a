#!/usr/bin/env bash
# Resident memory of `thetorrent import` over N small generated torrents (default 1,000,000):
# every queue is bounded, so the peak must not grow with N (goal: under 100 MB).
# usage: benches/import_memory.sh [N=1000000] [WORKDIR=/var/tmp/thetorrent-bench]
# Needs ~2 x N x 4 KiB of disk (one block per file, source and store).
set -uo pipefail
N=${1:-1000000}
WORK=${2:-/var/tmp/thetorrent-bench}
cd "$(dirname "$0")/.."
cargo build --release --quiet || exit 1
BIN=$PWD/target/release/thetorrent
SRC=$WORK/small-$N
if [ ! -f "$SRC.done" ]; then
  rm -rf "$SRC"
  python3 benches/gen_torrents.py "$SRC" "$N" --min 300 --max 2000 --median 600 || exit 1
  touch "$SRC.done"
fi
RUN=$WORK/mem-$$
mkdir -p "$RUN"
/usr/bin/time -f "%e s elapsed, %M KB max resident" -o "$RUN/time" \
  "$BIN" --data "$RUN/data" import --quiet "$SRC" | head -1
echo "import of $N files: $(cat "$RUN/time")"
COUNT=$("$BIN" --data "$RUN/data" count)
echo "count: $COUNT"
rm -rf "$RUN"
[ "$COUNT" -eq "$N" ]
