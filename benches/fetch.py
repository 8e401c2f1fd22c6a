#!/usr/bin/env python3
"""Fetching from the swarm on loopback (run by benches/fetch.sh, which builds the binary).

usage: fetch.py BIN [N=100]

A libtorrent 2.1.1 swarm (tests/fetch_rig.py on 127.0.2.60-63: three DHT nodes and a seed of N
v1 torrents), then four runs of `thetorrent serve --fetch`, each on a fresh data directory:
  1. DHT: GET /torrent/<HASH>.torrent for each of the N hashes in turn; time to the 200.
  2. x.pe: GET /magnet?xt=urn:btih:<HASH>&x.pe=<seed> in turn; time to the 302 (stored).
  3. N GETs at once (--fetch-jobs N), DHT: all answered 200?, time until the last, peak RSS.
  4. Memory per job in flight: N jobs held by a peer that accepts and never answers
     (x.pe, --fetch-jobs N); resident memory before and with all N running.
Prints the figures; exits 1 when a fetch that should succeed did not.
"""
import http.client
import json
import math
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RIG_BASE = "127.0.2.60"
SILENT_PEER = "127.0.2.65"


def start_rig(n):
    rig = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "tests", "fetch_rig.py"), RIG_BASE, f"{n}*v1"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    dht, seed, hashes = [], None, []
    for line in rig.stdout:
        w = line.split()
        if w[0] == "dht":
            dht = w[1:]
        elif w[0] == "seed":
            seed = w[1]
        elif w[0] == "torrent":
            hashes.append(w[3].upper())
        elif w[0] == "ready":
            return rig, dht, seed, hashes
    sys.exit("the rig did not start (is libtorrent 2.1.1 installed? tests/setup.sh)")


class Server:
    def __init__(self, binary, args):
        self.data = tempfile.mkdtemp(prefix="thetorrent-fetch-bench-")
        self.proc = subprocess.Popen(
            [binary, "--data", self.data, "serve", "--listen", "127.0.0.1:0", "--fetch",
             "--fetch-allow-private"] + args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.log = []
        self.addr = None
        ready = threading.Event()

        def read():
            for line in self.proc.stderr:
                self.log.append(line)
                if line.startswith("thetorrent: listening on "):
                    host, port = line.split()[3].rsplit(":", 1)
                    self.addr = (host, int(port))
                    ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(20):
            self.stop()
            sys.exit("the server did not start:\n" + "".join(self.log))

    def get(self, path, timeout=180):
        c = http.client.HTTPConnection(*self.addr, timeout=timeout)
        t0 = time.monotonic()
        c.request("GET", path)
        r = c.getresponse()
        body = r.read()
        dt = time.monotonic() - t0
        c.close()
        return r.status, body, dt

    def stats(self):
        return json.loads(self.get("/api/stats")[1])

    def rss_kb(self, field="VmRSS"):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        return 0

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        subprocess.run(["rm", "-rf", self.data])


def percentile(xs, p):
    s = sorted(xs)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


def report(what, times):
    ms = [t * 1000 for t in times]
    print(
        f"{what}: n={len(ms)} median {percentile(ms, 50):.1f} ms, p99 {percentile(ms, 99):.1f} ms, "
        f"min {min(ms):.1f} ms, max {max(ms):.1f} ms, first {ms[0]:.1f} ms"
    )


def sequential(server, paths, want):
    times, bad = [], []
    for p in paths:
        status, _, dt = server.get(p)
        (times if status == want else bad).append(dt if status == want else (p, status))
    return times, bad


def main():
    binary = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    rig, dht, seed, hashes = start_rig(n)
    boot = [a for d in dht for a in ("--dht-bootstrap", d)]
    failed = False
    try:
        s = Server(binary, ["--dht-listen", "127.0.2.70:0"] + boot)
        times, bad = sequential(s, [f"/torrent/{h}.torrent" for h in hashes], 200)
        report("DHT, GET of a missing hash to 200", times)
        print(f"  fetched {s.stats()['fetched']}, not 200: {bad[:3]}")
        failed |= bool(bad)
        s.stop()

        s = Server(binary, ["--no-dht"])
        times, bad = sequential(
            s, [f"/magnet?xt=urn:btih:{h}&x.pe={seed}" for h in hashes], 302
        )
        report("x.pe, GET /magnet of a missing hash to 302", times)
        print(f"  fetched {s.stats()['fetched']}, not 302: {bad[:3]}")
        failed |= bool(bad)
        s.stop()

        s = Server(binary, ["--dht-listen", "127.0.2.71:0", "--fetch-jobs", str(n)] + boot)
        s.get("/healthz")
        base = s.rss_kb()
        results = [None] * n
        t0 = time.monotonic()

        def one(i):
            status, body, _ = s.get(f"/torrent/{hashes[i]}.torrent")
            results[i] = status if status == 200 else (status, body[:100].decode(errors="replace"))

        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        took = time.monotonic() - t0
        ok = results.count(200)
        print(
            f"{n} GETs of missing hashes at once (DHT): {ok} answered 200 in {took:.2f} s; "
            f"RSS {base / 1024:.1f} MiB before, peak {s.rss_kb('VmHWM') / 1024:.1f} MiB"
        )
        others = {}
        for r in results:
            if r != 200:
                others[r] = others.get(r, 0) + 1
        if others:
            print(f"  not 200: {sorted(others.items(), key=lambda kv: -kv[1])[:4]}")
        failed |= ok != n
        s.stop()

        peer = socket.socket()
        peer.bind((SILENT_PEER, 0))
        peer.listen(4096)
        silent = "%s:%d" % peer.getsockname()
        s = Server(binary, ["--no-dht", "--fetch-jobs", str(n), "--fetch-wait", "0",
                            "--fetch-timeout", "60"])
        # one job that ends at once (no sources), so that everything a first job sets up exists
        s.get("/torrent/" + "00" * 20 + ".torrent")
        time.sleep(0.5)
        base = s.rss_kb()
        for i in range(n):
            h = "%040X" % (0xF00D0000 + i)
            status = s.get(f"/magnet?xt=urn:btih:{h}&x.pe={silent}")[0]
            assert status == 503, status
        deadline = time.monotonic() + 10
        while s.stats()["fetch"]["running"] < n and time.monotonic() < deadline:
            time.sleep(0.05)
        running = s.stats()["fetch"]["running"]
        time.sleep(0.5)
        held = s.rss_kb()
        print(
            f"memory per job in flight: {running} jobs, each with a connection to a silent "
            f"peer: RSS {base / 1024:.1f} MiB before, {held / 1024:.1f} MiB with them: "
            f"{(held - base) / max(running, 1):.1f} KiB per job"
        )
        s.stop()
        peer.close()
    finally:
        rig.stdin.close()
        rig.wait(30)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
