# Helpers shared by the benchmark scripts (sourced: `. "$(dirname "$0")/lib.sh"`).

# Fails (exit 1) unless every TOOL is installed (on PATH or in /usr/sbin, where nginx is).
need_tools() { # TOOL...
    local t
    for t in "$@"; do
        command -v "$t" >/dev/null 2>&1 || [ -x "/usr/sbin/$t" ] || {
            echo "missing $t: run WITH_BENCH=1 tests/setup.sh" >&2
            exit 1
        }
    done
}

# Processes to stop on exit: append their pids to PIDS. On exit (also on Ctrl-C) they are
# killed and waited for, and $WORK is removed.
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
stop_on_exit() {
    trap cleanup EXIT
    trap 'exit 130' INT TERM
}

# Prints the executable cargo built for the target NAME with the arguments after it (release
# profile); fails when it cannot be built.
built_exe() {
    local name=$1 exe
    shift
    exe=$(cargo "$@" --message-format=json 2>/dev/null | python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("executable") and m["target"]["name"] == sys.argv[1]: print(m["executable"])' "$name")
    [ -x "$exe" ] || { echo "cannot build $name (cargo $*)" >&2; return 1; }
    echo "$exe"
}

# The bench target NAME (benches/NAME.rs).
bench_exe() { built_exe "$1" bench --bench "$1" --no-run; }

# The load generator NAME (examples/NAME.rs).
example_exe() { built_exe "$1" build --release --example "$1"; }

# Makes all 65,536 shard folders under DIR (DATA/torrents), as in a store past its first few
# hundred thousand torrents.
make_shard_folders() {
    python3 - "$1" <<'PY'
import os, sys
for a in range(256):
    for b in range(256):
        os.makedirs(os.path.join(sys.argv[1], "%02X" % a, "%02X" % b), exist_ok=True)
PY
}

# Waits (up to SECONDS, default 10) until the server PID answers /healthz at ADDR; else
# prints LOG and fails.
wait_healthy() { # ADDR PID LOG [SECONDS]
    for _ in $(seq $((${4:-10} * 10))); do
        curl -sf "http://$1/healthz" >/dev/null 2>&1 && return 0
        kill -0 "$2" 2>/dev/null || break
        sleep 0.1
    done
    cat "$3" >&2
    echo "the server at $1 did not come up" >&2
    return 1
}

# Writes a wrk Lua script to OUT that asks /torrent/<HASH>.torrent for random lines of HASHES.
write_get_lua() { # OUT HASHES
    cat >"$1" <<LUA
local hashes = {}
for line in io.lines("$2") do hashes[#hashes + 1] = line end
math.randomseed(os.time())
request = function()
    return wrk.format("GET", "/torrent/" .. hashes[math.random(#hashes)] .. ".torrent")
end
LUA
}

# A wrk latency (1.23ms / 456.00us / 1.02s) in milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); print v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); print v + 0 }
        else if (v ~ /s$/) { sub(/s$/, "", v); print v * 1000 }
        else print v }'
}

# Starts `weed mini` ($WEED) on loopback: its ports from $WEED_PORT, S3 on $S3_PORT, data and
# log under $WORK/weed, an S3 identity whose credentials go to $WORK/credentials. Sets
# WEED_PID and adds it to PIDS.
start_weed_mini() {
    mkdir -p "$WORK/weed"
    SECRET=secret-$$-$RANDOM
    cat >"$WORK/weed/s3.json" <<JSON
{"identities":[{"name":"thetorrent","credentials":[{"accessKey":"thetorrent-bench","secretKey":"$SECRET"}],"actions":["Admin","Read","Write","List","Tagging"]}]}
JSON
    printf '[default]\naws_access_key_id = thetorrent-bench\naws_secret_access_key = %s\n' "$SECRET" \
        >"$WORK/credentials"
    "$WEED" mini -dir="$WORK/weed/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
        -s3.config="$WORK/weed/s3.json" -webdav=false -admin.ui=false -s3.port.iceberg=0 \
        -s3.port.lance=0 -master.telemetry=false \
        -admin.port="$WEED_PORT" \
        -master.port=$((WEED_PORT + 1)) -master.port.grpc=$((WEED_PORT + 2)) \
        -volume.port=$((WEED_PORT + 3)) -volume.port.grpc=$((WEED_PORT + 4)) \
        -filer.port=$((WEED_PORT + 5)) -filer.port.grpc=$((WEED_PORT + 6)) \
        -s3.port="$S3_PORT" -s3.port.grpc=$((WEED_PORT + 8)) \
        </dev/null >"$WORK/weed.log" 2>&1 &
    WEED_PID=$!
    PIDS+=("$WEED_PID")
}
