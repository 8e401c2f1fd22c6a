#!/usr/bin/env python3
"""A swarm on loopback for tests/fetch.rs and benches/fetch.sh, made of libtorrent 2.1.1
sessions: three DHT nodes that bootstrap each other and one seed that announces its torrents
to them.

Usage: fetch_rig.py BASE KIND...
  BASE   first of four loopback addresses of the rig's own (e.g. 127.0.2.10: the DHT nodes
         take .10-.12, the seed .13). libtorrent sets SO_REUSEPORT, so two rigs must never
         share an address; every port is picked by the kernel.
  KIND   a torrent to make and seed: v1, v2 (v2-only) or hybrid; `N*KIND` makes N of them.

Once every torrent has been announced to a DHT node, prints (words split by single spaces;
`-` for a hash the torrent does not have):
  dht IP:PORT IP:PORT IP:PORT
  seed IP:PORT
  torrent KIND NAME V1HEX V2HEX        (one line per torrent)
  ready
then answers commands read from standard input, one line each:
  check PATH   libtorrent loads the .torrent file at PATH:
               `ok V1HEX V2HEX NAME TRACKER...` or `error MESSAGE`
and exits when standard input closes. Nothing leaves loopback: no public bootstrap nodes, no
local service discovery, UPnP or NAT-PMP.
"""
import os
import shutil
import sys
import tempfile
import time

import libtorrent as lt

ANNOUNCE_TIMEOUT = 60.0


def settings(ip):
    return {
        "listen_interfaces": f"{ip}:0",
        "outgoing_interfaces": ip,
        "enable_dht": True,
        "dht_bootstrap_nodes": "",
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_ip_notifier": False,
        "dht_restrict_routing_ips": False,
        "dht_restrict_search_ips": False,
        "dht_prefer_verified_node_ids": False,
        "dht_ignore_dark_internet": False,
        "dht_block_ratelimit": 10000,
        "dht_upload_rate_limit": 1000000,
        "allow_multiple_connections_per_ip": True,
        "alert_mask": lt.alert_category.error | lt.alert_category.dht | lt.alert_category.status,
    }


def listening(ses):
    deadline = time.monotonic() + 10
    while ses.listen_port() == 0:
        if time.monotonic() > deadline:
            sys.exit("libtorrent did not start listening")
        time.sleep(0.01)
    return ses.listen_port()


def hashes(ti):
    ih = ti.info_hashes()
    return (str(ih.v1) if ih.has_v1() else None, str(ih.v2) if ih.has_v2() else None)


def make_torrent(folder, i, kind):
    name = f"t{i:04d}-{kind}-{os.getpid()}"
    path = os.path.join(folder, name)
    with open(path, "wb") as f:
        f.write(os.urandom(20000 + i))
    flags = {"v1": lt.create_torrent.v1_only, "v2": lt.create_torrent.v2_only, "hybrid": 0}[kind]
    ct = lt.create_torrent(lt.list_files(path), 16384, flags)
    lt.set_piece_hashes(ct, folder)
    ti = lt.torrent_info(lt.bdecode(lt.bencode(ct.generate())))
    return name, ti


def kinds(args):
    for a in args:
        n, _, kind = a.rpartition("*")
        for _ in range(int(n) if n else 1):
            yield kind


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    a, b, c, d = (int(x) for x in sys.argv[1].split("."))
    ips = [f"{a}.{b}.{c}.{d + k}" for k in range(4)]
    folder = tempfile.mkdtemp(prefix="thetorrent-rig-")
    try:
        run(ips, list(kinds(sys.argv[2:])), folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run(ips, wanted, folder):
    nodes = [lt.session(settings(ip)) for ip in ips[:3]]
    ports = [listening(s) for s in nodes]
    for s in nodes:
        for ip, port in zip(ips, ports):
            s.add_dht_node((ip, port))
    seed = lt.session(settings(ips[3]))
    seed_port = listening(seed)
    for ip, port in zip(ips, ports):
        seed.add_dht_node((ip, port))

    torrents, handles, swarm = [], [], {}
    for i, kind in enumerate(wanted):
        name, ti = make_torrent(folder, i, kind)
        v1, v2 = hashes(ti)
        torrents.append({"kind": kind, "name": name, "v1": v1, "v2": v2})
        atp = lt.add_torrent_params()
        atp.ti = ti
        atp.save_path = folder
        atp.flags = lt.torrent_flags.seed_mode
        h = seed.add_torrent(atp)
        handles.append(h)
        # what the DHT hears it as: the v1 hash, or the truncated v2 hash
        swarm[v1 if v1 else v2[:40]] = h

    announced = set()
    deadline = time.monotonic() + ANNOUNCE_TIMEOUT
    next_push = 0.0
    while len(announced) < len(swarm):
        now = time.monotonic()
        if now > deadline:
            sys.exit(f"only {len(announced)} of {len(swarm)} torrents reached the DHT")
        if now >= next_push:
            for key, h in swarm.items():
                if key not in announced:
                    h.force_dht_announce()
            next_push = now + 1.0
        for s in nodes:
            for al in s.pop_alerts():
                if isinstance(al, lt.dht_announce_alert):
                    announced.add(str(al.info_hash))
        seed.pop_alerts()
        time.sleep(0.02)

    print("dht " + " ".join(f"{ip}:{p}" for ip, p in zip(ips, ports)))
    print(f"seed {ips[3]}:{seed_port}")
    for t in torrents:
        print(f"torrent {t['kind']} {t['name']} {t['v1'] or '-'} {t['v2'] or '-'}")
    print("ready", flush=True)
    for line in sys.stdin:
        cmd, _, arg = line.strip().partition(" ")
        if not cmd:
            continue
        if cmd == "check":
            print(check(arg), flush=True)
        else:
            print(f"error unknown command {cmd!r}", flush=True)
        for s in nodes + [seed]:
            s.pop_alerts()


def check(path):
    try:
        atp = lt.load_torrent_file(path)
    except Exception as e:  # libtorrent raises RuntimeError with its own message
        return f"error {e}"
    v1, v2 = hashes(atp.ti)
    words = [v1 or "-", v2 or "-", atp.ti.name()] + list(atp.trackers)
    return "ok " + " ".join(words)


if __name__ == "__main__":
    main()
