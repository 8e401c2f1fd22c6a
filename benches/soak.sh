#!/usr/bin/env bash
# Load soak: MINUTES (default 10) one-minute rounds of mixed traffic on loopback — 90 %
# downloads of random stored hashes, 9 % uploads of new torrents, 1 % bad requests — from wrk
# (benches/soak.lua) against the release binary. Per minute: requests/s, p99, 5xx count,
# resident memory. At the end: zero 5xx, no lost upload (count grew by exactly the uploads
# answered "stored", `thetorrent verify` clean), RSS at start and end.
#   WITH_BENCH=1 tests/setup.sh; benches/soak.sh [MINUTES=10] [CONNECTIONS=64]
set -uo pipefail
MINUTES=${1:-10}
CONNS=${2:-64}
WORK=${WORK:-/var/tmp/thetorrent-soak}
PORT=${PORT:-18190}
cd "$(dirname "$0")/.."
cargo build --release --quiet || exit 1
BIN=$PWD/target/release/thetorrent
rm -rf "$WORK"; mkdir -p "$WORK"
python3 benches/gen_torrents.py "$WORK/seed" 5000 >/dev/null
"$BIN" --data "$WORK/data" import --quiet "$WORK/seed" >/dev/null
cat "$WORK"/data/sync/*.txt > "$WORK/hashes"
START_COUNT=$("$BIN" --data "$WORK/data" count)
"$BIN" --data "$WORK/data" serve --listen 127.0.0.1:$PORT 2>"$WORK/serve.log" &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null' EXIT
for _ in $(seq 50); do curl -sf http://127.0.0.1:$PORT/healthz >/dev/null && break; sleep 0.1; done
rss() { awk '/VmRSS/ {print $2}' /proc/$PID/status; }
RSS0=$(rss)
TOTAL_STORED=0; TOTAL_5XX=0
echo "start: $START_COUNT torrents, RSS ${RSS0} KB, $CONNS connections"
for m in $(seq "$MINUTES"); do
  OUT=$(SOAK_HASHES="$WORK/hashes" SOAK_OUT="$WORK/stored" SOAK_RUN=$m wrk -t2 -c"$CONNS" -d60s --latency \
        -s benches/soak.lua http://127.0.0.1:$PORT 2>&1 | grep '^SOAK')
  S=$(echo "$OUT" | sed -E 's/.*uploads_stored=([0-9]+).*/\1/')
  E=$(echo "$OUT" | sed -E 's/.* 5xx=([0-9]+).*/\1/')
  TOTAL_STORED=$((TOTAL_STORED + S)); TOTAL_5XX=$((TOTAL_5XX + E))
  echo "minute $m: ${OUT#SOAK } rss_kb=$(rss)"
done
RSS1=$(rss)
kill -TERM $PID; wait $PID; STATUS=$?
trap - EXIT
END_COUNT=$("$BIN" --data "$WORK/data" count)
"$BIN" --data "$WORK/data" verify | tail -1; VERIFY=${PIPESTATUS[0]}
# Every hash answered "stored" must be there (uploads in flight when a round ended may be
# stored without their answer having been read: the count may exceed the answers).
LOST=0
for h in $(cat "$WORK"/stored.* 2>/dev/null); do
  [ -f "$WORK/data/torrents/${h:0:2}/${h:2:2}/$h.torrent" ] || LOST=$((LOST + 1))
done
echo "RSS start ${RSS0} KB, end ${RSS1} KB; exit status after SIGTERM: $STATUS"
echo "uploads answered stored: $TOTAL_STORED, missing: $LOST; count $START_COUNT -> $END_COUNT; 5xx: $TOTAL_5XX"
if [ "$TOTAL_5XX" -eq 0 ] && [ "$LOST" -eq 0 ] && [ "$VERIFY" -eq 0 ] \
   && [ $((END_COUNT - START_COUNT)) -ge "$TOTAL_STORED" ]; then
  echo "SOAK OK: zero 5xx, zero lost uploads"
  rm -rf "$WORK"
else
  echo "SOAK FAILED (data kept in $WORK)"; exit 1
fi
