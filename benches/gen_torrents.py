#!/usr/bin/env python3
"""Generate N valid, distinct .torrent files with real-world sizes into a folder.

Sizes follow a log-normal law (median ~20 KB) clipped to [MIN, MAX] bytes, as real .torrent
files do: almost all of a torrent is its `pieces` string (20 bytes per piece), so the size is
set through the number of pieces. Single- and multi-file torrents alternate.

With --store, OUT_DIR is laid out as a data directory (torrents/AB/CD/<INFO HASH>.torrent) and
each info hash is printed on stdout; the sizes' median, mean and p99 go to stderr.

usage: gen_torrents.py OUT_DIR N [--min 5000] [--max 200000] [--median 20000] [--sigma 0.9]
                       [--seed 1] [--store]
"""
import argparse
import hashlib
import math
import os
import random
import sys


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
    ap.add_argument("--store", action="store_true")
    a = ap.parse_args()
    sizes = []
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
        body = benc(t)
        if a.store:
            h = hashlib.sha1(benc(info)).hexdigest().upper()
            d = os.path.join(a.out, "torrents", h[0:2], h[2:4])
            path = os.path.join(d, h + ".torrent")
            print(h)
        else:
            d = os.path.join(a.out, "%04d" % (i // per_dir))
            path = os.path.join(d, "%08d.torrent" % i)
        os.makedirs(d, exist_ok=True)
        with open(path, "wb") as f:
            f.write(body)
        sizes.append(len(body))
    if a.store and sizes:
        sizes.sort()
        print("sizes: median %d, mean %d, p99 %d, total %.2f GB" % (
            sizes[len(sizes) // 2], sum(sizes) // len(sizes), sizes[len(sizes) * 99 // 100],
            sum(sizes) / 1e9), file=sys.stderr)


if __name__ == "__main__":
    main()
