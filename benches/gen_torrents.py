#!/usr/bin/env python3
"""Generate N valid, distinct .torrent files with real-world sizes into a folder.

Sizes follow a log-normal law (median ~20 KB) clipped to [MIN, MAX] bytes, as real .torrent
files do: almost all of a torrent is its `pieces` string (20 bytes per piece), so the size is
set through the number of pieces. Single- and multi-file torrents alternate.

usage: gen_torrents.py OUT_DIR N [--min 5000] [--max 200000] [--median 20000] [--seed 1]
"""
import argparse
import math
import os
import random


def benc(v):
    if isinstance(v, int):
        return b"i%de" % v
    if isinstance(v, str):
        v = v.encode()
    if isinstance(v, bytes):
        return b"%d:%s" % (len(v), v)
    if isinstance(v, list):
        return b"l" + b"".join(benc(x) for x in v) + b"e"
    if isinstance(v, dict):
        items = sorted((k.encode() if isinstance(k, str) else k, x) for k, x in v.items())
        return b"d" + b"".join(benc(k) + benc(x) for k, x in items) + b"e"
    raise TypeError(type(v))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("n", type=int)
    ap.add_argument("--min", type=int, default=5000)
    ap.add_argument("--max", type=int, default=200000)
    ap.add_argument("--median", type=int, default=20000)
    ap.add_argument("--sigma", type=float, default=0.9)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    per_dir = 1000
    plen = 262144
    for i in range(a.n):
        size = int(math.exp(rnd.gauss(math.log(a.median), a.sigma)))
        size = max(a.min, min(a.max, size))
        npieces = max(1, (size - 300) // 20)
        name = "generated-%08d-%s.bin" % (i, rnd.getrandbits(32))
        info = {"name": name, "piece length": plen, "pieces": rnd.randbytes(20 * npieces)}
        total = (npieces - 1) * plen + rnd.randint(1, plen)
        if i % 2:
            info["length"] = total
        else:
            a_len = total // 2
            info["files"] = [
                {"length": a_len, "path": ["part-a.bin"]},
                {"length": total - a_len, "path": ["sub", "part-b.bin"]},
            ]
        t = {
            "announce": "http://tracker.example/announce",
            "created by": "thetorrent gen_torrents.py",
            "creation date": 1700000000 + i,
            "info": info,
        }
        d = os.path.join(a.out, "%04d" % (i // per_dir))
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "%08d.torrent" % i), "wb") as f:
            f.write(benc(t))


if __name__ == "__main__":
    main()
