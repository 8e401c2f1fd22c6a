#!/usr/bin/env bash
# Download benchmark: thetorrent against nginx on the same tree, loopback only (127.0.0.1).
#
#   WITH_BENCH=1 bash tests/setup.sh     # wrk, nginx (Debian)
#   bash benches/serve.sh                # DURATION=10 (>= 3) REPEAT=1 COUNT=100000 BENCH_DIR=/tmp/thetorrent-bench
#
# 1. Generates COUNT stored torrents (benches/gen_torrents.py: valid and named, half of them
#    multi-file; sizes log-normal, median ~20 KB) in the sharded layout
#    DATA/torrents/AB/CD/<40 HEX>.torrent (kept between runs).
# 2. For each server (thetorrent, nginx with sendfile + open_file_cache + access_log off and a
#    rewrite from /torrent/<HASH>.torrent to the sharded path), each placement (unpinned; server
#    on CPU 0 and wrk on CPU 1), each connection count (64, 256) and each mix (all hits; 10 %
#    misses), runs wrk for DURATION seconds with a Lua script asking random hashes.
#    With REPEAT=n each run is repeated n times, the servers taking turns to go first (a
#    machine that speeds up or slows down over the run favours neither), and medians are used.
# 3. Prints requests/s, p99 latency, server CPU time per request (from /proc/<pid>/stat before
#    and after), wrk's own CPU time per request, and the thetorrent/nginx ratios; then resident
#    memory of thetorrent under load and with 10,000 idle keep-alive connections.
#    Unpinned, wrk shares the two cores with the server, so requests/s is about
#    cores / (server CPU + wrk CPU per request): the wrk column says how much of the
#    requests/s ratio a server's CPU per request can move. Pinned, wrk has one core: its busy
#    column (CPU seconds per second, counted from one second in) says how close the client
#    was to its limit, and "client max" is the largest ratio to nginx that client could show.
# 4. With OPENLOOP_RATES set (e.g. "5000 10000 15000"; OPENLOOP_SECONDS=5), an open-loop
#    part (examples/openloop.rs): both servers, unpinned, are asked for the same fixed rates
#    at 64 and 256 connections, REPEAT times, taking turns; latency counts from when each
#    request was due. wrk is closed-loop: at saturation its p99 is as much the client's queue
#    as the server's; this is each server's latency at equal offered load. SKIP_WRK=1 runs
#    only this part (and the memory figures).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/benches/lib.sh"
DURATION=${DURATION:-10}
[ "$DURATION" -ge 3 ] || { echo "DURATION must be 3 seconds or more" >&2; exit 1; }
OPENLOOP_RATES=${OPENLOOP_RATES:-}
OPENLOOP_SECONDS=${OPENLOOP_SECONDS:-5}
SKIP_WRK=${SKIP_WRK:-0}
REPEAT=${REPEAT:-1}
COUNT=${COUNT:-100000}
BENCH_DIR=${BENCH_DIR:-/tmp/thetorrent-bench}
PORT_TT=${PORT_TT:-18181}
PORT_NG=${PORT_NG:-18182}
# Open files cached by each server (nginx: per worker). Both must fit under the descriptor
# limit; with 100,000 files neither caches the whole tree (as in production).
FILE_CACHE=${FILE_CACHE:-16000}
DATA=$BENCH_DIR/data
CLK_TCK=$(getconf CLK_TCK)
NCPU=$(nproc)

need_tools wrk nginx python3 taskset
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
echo "descriptor limit: $(ulimit -n)"

mkdir -p "$BENCH_DIR"
(cd "$ROOT" && cargo build --release --quiet)
BIN=$ROOT/target/release/thetorrent
OPENLOOP=
if [ -n "$OPENLOOP_RATES" ]; then
    OPENLOOP=$(cd "$ROOT" && example_exe openloop) || exit 1
fi

# ---- 1. the tree ----------------------------------------------------------------------
# Real torrents (valid, named, filed under their info hash): a download reads the name for
# Content-Disposition, so random bytes would measure a path no stored file takes.
TREE_FORMAT="gen_torrents.py --store, seed 20261126"
if [ ! -f "$BENCH_DIR/hashes.txt" ] || [ "$(wc -l <"$BENCH_DIR/hashes.txt")" -ne "$COUNT" ] \
    || [ "$(cat "$BENCH_DIR/format" 2>/dev/null)" != "$TREE_FORMAT" ]; then
    echo "generating $COUNT torrents in $DATA ..."
    rm -rf "$DATA" "$BENCH_DIR/hashes.txt" "$BENCH_DIR/format"
    # log-normal, median 20 KB, sigma 0.8; between 1 KB and 8 MB
    python3 "$ROOT/benches/gen_torrents.py" "$DATA" "$COUNT" --store --seed 20261126 \
        --min 1000 --max $((8 << 20)) --median 20000 --sigma 0.8 >"$BENCH_DIR/hashes.txt"
    # Hashes not stored, for the misses.
    python3 -c 'import random, sys
rnd = random.Random(20261127)
for _ in range(10000):
    print("%040X" % rnd.getrandbits(160))' >"$BENCH_DIR/misses.txt"
    echo "$TREE_FORMAT" >"$BENCH_DIR/format"
fi

cat >"$BENCH_DIR/random.lua" <<'LUA'
-- Random stored hashes; MISS (0..1) of the requests ask for hashes that are not stored.
local hashes, misses = {}, {}
local miss = tonumber(os.getenv("MISS") or "0")
local counter = 0
function setup(thread)
    counter = counter + 1
    thread:set("seed", counter)
end
function init(args)
    for l in io.lines(os.getenv("HASHES")) do hashes[#hashes + 1] = l end
    for l in io.lines(os.getenv("MISSES")) do misses[#misses + 1] = l end
    math.randomseed(os.time() * 100 + (seed or 0))
end
function request()
    local h
    if miss > 0 and math.random() < miss then
        h = misses[math.random(#misses)]
    else
        h = hashes[math.random(#hashes)]
    end
    return wrk.format("GET", "/torrent/" .. h .. ".torrent")
end
LUA

# nginx: the same tree, the usual static-file tuning.
nginx_conf() { # workers
    cat >"$BENCH_DIR/nginx.conf" <<NG
worker_processes $1;
daemon off;
master_process on;
user root;
pid $BENCH_DIR/nginx.pid;
error_log $BENCH_DIR/nginx-error.log warn;
events { worker_connections 16384; multi_accept on; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    open_file_cache max=$FILE_CACHE inactive=60s;
    open_file_cache_valid 60s;
    open_file_cache_errors on;
    client_body_temp_path $BENCH_DIR/nginx-tmp;
    proxy_temp_path $BENCH_DIR/nginx-tmp;
    fastcgi_temp_path $BENCH_DIR/nginx-tmp;
    uwsgi_temp_path $BENCH_DIR/nginx-tmp;
    scgi_temp_path $BENCH_DIR/nginx-tmp;
    types { application/x-bittorrent torrent; }
    server {
        listen 127.0.0.1:$PORT_NG;
        root $DATA;
        location /torrent/ {
            rewrite "^/torrent/(([0-9A-F]{2})([0-9A-F]{2})[0-9A-F]{36})\.torrent$" /torrents/\$2/\$3/\$1.torrent break;
            return 400;
        }
    }
}
NG
    mkdir -p "$BENCH_DIR/nginx-tmp"
}

# CPU ticks (user + system) of a process and its direct children.
ticks() {
    local total=0 p
    for p in "$1" $(ps --ppid "$1" -o pid= 2>/dev/null); do
        if [ -r "/proc/$p/stat" ]; then
            total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat")))
        fi
    done
    echo "$total"
}

wait_port() {
    for _ in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0
        sleep 0.1
    done
    echo "server on port $1 did not come up" >&2
    return 1
}

SERVER_PID=
start_server() { # name placement
    local cpu_prefix=() workers=$NCPU
    if [ "$2" = pinned ]; then
        cpu_prefix=(taskset -c 0)
        workers=1
    fi
    if [ "$1" = thetorrent ]; then
        "${cpu_prefix[@]}" "$BIN" serve --data "$DATA" --listen "127.0.0.1:$PORT_TT" \
            --workers "$workers" --file-cache "$FILE_CACHE" --max-connections 1024 \
            2>"$BENCH_DIR/thetorrent.log" &
        SERVER_PID=$!
        wait_port "$PORT_TT"
    else
        nginx_conf "$workers"
        "${cpu_prefix[@]}" "$NGINX" -c "$BENCH_DIR/nginx.conf" -p "$BENCH_DIR" 2>>"$BENCH_DIR/nginx-error.log" &
        SERVER_PID=$!
        wait_port "$PORT_NG"
    fi
}

stop_server() {
    if [ -n "$SERVER_PID" ]; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=
    fi
}
trap stop_server EXIT

# Warm the page cache once (both servers read the same files).
cat "$BENCH_DIR/hashes.txt" >/dev/null
find "$DATA" -type f -print0 | xargs -0 cat >/dev/null

RESULTS=$BENCH_DIR/results.tsv
printf "server\tplacement\tconns\tmiss\treq_s\tp99_ms\tcpu_us_per_req\tnon2xx\twrk_cpu_us_per_req\twrk_busy\n" >"$RESULTS"

# wrk "$@", then a line "wrk_ticks ALL FIRST NS": the CPU ticks wrk used in all (its shell's
# children's time), those it had used one second in (read from /proc then), and the
# nanoseconds from then to its end. Its start-up (two Lua states reading 110,000 hashes
# each, ~0.1-0.2 s of CPU) falls in that first second, so ALL - FIRST over NS is its cost
# under load alone.
run_wrk() {
    "${wrk_prefix[@]}" bash -c 'wrk "$@" & w=$!; sleep 1
        first=$(awk "{print \$14 + \$15}" /proc/$w/stat 2>/dev/null || echo 0); t0=$(date +%s%N)
        wait $w; t1=$(date +%s%N)
        echo "wrk_ticks $(awk "{print \$16 + \$17}" /proc/$$/stat) $first $((t1 - t0))"' _ "$@"
}

# For each of REPEAT rounds, starts each server in turn (which goes first alternates, so a
# machine that speeds up or slows down over the run favours neither), warms it up with 2 s of
# wrk (open_file_cache, may's coroutine pool) and runs FUNCTION SERVER PORT against it.
# PLACEMENT pinned: the server on CPU 0 with one worker, wrk (wrk_prefix) on CPU 1.
each_server() { # PLACEMENT FUNCTION
    local rep server order
    wrk_prefix=()
    [ "$1" = pinned ] && wrk_prefix=(taskset -c 1)
    for rep in $(seq "$REPEAT"); do
        order="thetorrent nginx"
        [ $((rep % 2)) -eq 0 ] && order="nginx thetorrent"
        for server in $order; do
            start_server "$server" "$1"
            port=$PORT_TT
            [ "$server" = nginx ] && port=$PORT_NG
            HASHES=$BENCH_DIR/hashes.txt MISSES=$BENCH_DIR/misses.txt MISS=0 \
                "${wrk_prefix[@]}" wrk -t2 -c64 -d2s -s "$BENCH_DIR/random.lua" \
                "http://127.0.0.1:$port" >/dev/null
            "$2" "$server" "$port"
            stop_server
        done
    done
}

MAX_RSS_KB=0
wrk_runs() { # SERVER PORT
    local server=$1 port=$2 conns miss
    for conns in 64 256; do
        for miss in 0 0.1; do
            before=$(ticks "$SERVER_PID")
            out=$(HASHES=$BENCH_DIR/hashes.txt MISSES=$BENCH_DIR/misses.txt MISS=$miss \
                run_wrk -t2 -c"$conns" -d"${DURATION}s" --latency \
                -s "$BENCH_DIR/random.lua" "http://127.0.0.1:$port")
            after=$(ticks "$SERVER_PID")
            if [ "$server" = thetorrent ]; then
                rss=$(awk '/VmHWM/ {print $2}' "/proc/$SERVER_PID/status")
                [ "$rss" -gt "$MAX_RSS_KB" ] && MAX_RSS_KB=$rss
            fi
            reqs=$(echo "$out" | awk '/requests in/ {print $1}')
            rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
            p99=$(to_ms "$(echo "$out" | awk '$1 == "99%" {print $2}')")
            non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
            cpu=$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v n="$reqs" \
                'BEGIN { printf "%.1f", t / hz * 1e6 / n }')
            # wrk's CPU after its first second (so without its start-up), per request
            # (requests/s x that time) and per second (busy: 1.00 = one whole core).
            read -r wrk_all wrk_first wrk_ns <<<"$(echo "$out" | awk '/^wrk_ticks/ {print $2, $3, $4}')"
            wrk_cpu=$(awk -v t=$((wrk_all - wrk_first)) -v hz="$CLK_TCK" -v r="$rps" \
                -v ns="$wrk_ns" 'BEGIN { printf "%.1f", t / hz * 1e6 / (r * ns / 1e9) }')
            wrk_busy=$(awk -v t=$((wrk_all - wrk_first)) -v hz="$CLK_TCK" -v ns="$wrk_ns" \
                'BEGIN { printf "%.2f", t / hz / (ns / 1e9) }')
            printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n" "$server" "$placement" "$conns" "$miss" \
                "$rps" "$p99" "$cpu" "${non2xx:-0}" "$wrk_cpu" "$wrk_busy" | tee -a "$RESULTS"
        done
    done
}
if [ "$SKIP_WRK" != 1 ]; then
for placement in unpinned pinned; do
    each_server "$placement" wrk_runs
done

echo
echo "== ratios thetorrent / nginx (goal: req/s >= 1.2, CPU/request <= 0.8, p99 <= 1.0)"
python3 - "$RESULTS" <<'PY'
import sys, statistics
from collections import defaultdict
runs = defaultdict(list)
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])][1:]
for server, placement, conns, miss, rps, p99, cpu, _, wrk_cpu, wrk_busy in rows:
    runs[(placement, conns, miss, server)].append(
        (float(rps), float(p99), float(cpu), float(wrk_cpu), float(wrk_busy)))
med = lambda xs: statistics.median(xs)
print("placement  conns miss | thetorrent req/s  p99 ms  cpu us/req  wrk busy | nginx req/s  p99 ms"
      "  cpu us/req  wrk busy | ratio req/s  p99  cpu | client max")
for key in sorted({k[:3] for k in runs}):
    t, n = runs.get(key + ("thetorrent",)), runs.get(key + ("nginx",))
    if not t or not n:
        continue
    tr, tp, tc, tw, tb = (med([r[i] for r in t]) for i in range(5))
    nr, np_, nc, nw, nb = (med([r[i] for r in n]) for i in range(5))
    # Pinned, wrk has one core: it cannot ask for more than 1 s / (its CPU per request)
    # requests a second, whatever the server. "client max" is that ceiling over nginx's
    # requests/s: the largest requests/s ratio this client could have shown in this run.
    ceiling = "%10.2f" % (1e6 / tw / nr) if key[0] == "pinned" else "%10s" % "-"
    print("%-10s %5s %4s | %16.0f %7.2f %11.1f %4.1f %4.2f | %11.0f %7.2f %11.1f %4.1f %4.2f"
          " | %11.2f %4.2f %4.2f | %s" % (
        key + (tr, tp, tc, tw, tb, nr, np_, nc, nw, nb, tr / nr, tp / np_ if np_ else 0, tc / nc,
               ceiling)))
print("(medians of %d run(s) each. wrk: the load generator's own CPU time per request; busy: its"
      % len(t))
print(" CPU seconds per second, 1.00 = a whole core. Unpinned it shares the two cores with the")
print(" server. Pinned it has one core: the closer busy is to 1.00, the more the requests/s")
print(" figure is the client's limit rather than the server's; client max = 1 s / wrk's CPU per")
print(" request against thetorrent / nginx's requests/s, the highest ratio it could show.)")
PY

fi

# ---- 4. open loop: the same offered load for both servers -----------------------------
if [ -n "$OPENLOOP" ]; then
  OL_RESULTS=$BENCH_DIR/openloop.tsv
  printf "server\tconns\trate\trequests\tp50_us\tp90_us\tp99_us\tp999_us\tmax_us\tlate_us\n" >"$OL_RESULTS"
  openloop_runs() { # SERVER PORT
    local server=$1 port=$2 conns rate line
    for conns in 64 256; do
        for rate in $OPENLOOP_RATES; do
            line=$("$OPENLOOP" "127.0.0.1:$port" "$BENCH_DIR/hashes.txt" "$BENCH_DIR/misses.txt" 0 \
                "$rate" "$conns" "$OPENLOOP_SECONDS" | awk '/^RESULT/ {$1 = ""; print}')
            [ -n "$line" ] || { echo "openloop against $server failed" >&2; exit 1; }
            # shellcheck disable=SC2086 # the RESULT fields, one argument each
            printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n" "$server" "$conns" "$rate" \
                $line | tee -a "$OL_RESULTS"
        done
    done
  }
  each_server unpinned openloop_runs
  echo
  echo "== open loop: latency at equal offered load (unpinned; medians of $REPEAT run(s))"
  python3 - "$OL_RESULTS" <<'PY'
import sys, statistics
from collections import defaultdict
runs = defaultdict(list)
for l in list(open(sys.argv[1]))[1:]:
    server, conns, rate, _, p50, p90, p99, p999, mx, late = l.rstrip("\n").split("\t")
    runs[(int(conns), int(rate), server)].append(tuple(map(float, (p50, p90, p99, p999, late))))
med = statistics.median
print("conns   rate | thetorrent p50  p90   p99 p99.9 us | nginx p50   p90   p99 p99.9 us"
      " | p99 ratio | client late us tt / nginx")
wins = pairs = 0
for key in sorted({k[:2] for k in runs}):
    t, n = runs.get(key + ("thetorrent",)), runs.get(key + ("nginx",))
    if not t or not n:
        continue
    tm = [med([r[i] for r in t]) for i in range(5)]
    nm = [med([r[i] for r in n]) for i in range(5)]
    for a, b in zip(t, n):
        pairs += 1
        wins += a[2] <= b[2]
    print("%5d %6d | %14.0f %4.0f %5.0f %5.0f    | %9.0f %5.0f %5.0f %5.0f    | %9.2f | %6.0f / %.0f"
          % (key + tuple(tm[:4]) + tuple(nm[:4]) + (tm[2] / nm[2], tm[4], nm[4])))
print("thetorrent's p99 at or below nginx's in %d of %d runs paired by repeat" % (wins, pairs))
PY
fi

echo
echo "== memory"
if [ "$SKIP_WRK" != 1 ]; then
    echo "thetorrent peak resident memory under load: $((MAX_RSS_KB / 1024)) MB (goal < 64 MB)"
fi

# 10,000 idle keep-alive connections (each has made one request).
"$BIN" serve --data "$DATA" --listen "127.0.0.1:$PORT_TT" --file-cache 1000 \
    2>"$BENCH_DIR/thetorrent.log" &
SERVER_PID=$!
wait_port "$PORT_TT"
python3 - "$PORT_TT" "$SERVER_PID" <<'PY'
import socket, sys, time
port, pid = int(sys.argv[1]), sys.argv[2]
def rss():
    for l in open("/proc/%s/status" % pid):
        if l.startswith("VmRSS"):
            return int(l.split()[1]) // 1024
base = rss()
socks = []
req = b"GET /healthz HTTP/1.1\r\nHost: b\r\n\r\n"
for i in range(10000):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(req)
    socks.append(s)
for s in socks:
    s.settimeout(10)
    got = b""
    while b"\r\n\r\n" not in got or not got.endswith(b"ok"):
        got += s.recv(4096)
time.sleep(1)
print("thetorrent resident memory: %d MB at start, %d MB with 10,000 idle keep-alive "
      "connections (goal < 256 MB)" % (base, rss()))
for s in socks:
    s.close()
PY
stop_server
echo "results: $RESULTS"
