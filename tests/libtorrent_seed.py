#!/usr/bin/env python3
"""A libtorrent 2.1.1 seed for tests/fetch_peer.rs: an independent BitTorrent implementation
serving the info dictionaries of the given .torrent files over the peer wire (BEP 9).

Usage: libtorrent_seed.py ADDRESS TORRENT...
Listens on ADDRESS (a loopback address of its own: libtorrent sets SO_REUSEPORT, so two
instances on one address could share a port), on a port the kernel picks, prints
"listening PORT" once every torrent is added, and runs until its standard input closes.
No DHT, local discovery, UPnP or NAT-PMP: nothing leaves loopback.
"""
import os
import sys
import tempfile
import time

import libtorrent as lt


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    address, torrents = sys.argv[1], sys.argv[2:]
    settings = {
        "listen_interfaces": f"{address}:0",
        "outgoing_interfaces": address,
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_ip_notifier": False,
        "allow_multiple_connections_per_ip": True,
        "alert_mask": lt.alert_category.error | lt.alert_category.status,
    }
    ses = lt.session(settings)
    save = tempfile.mkdtemp(prefix="thetorrent-seed-")
    for path in torrents:
        atp = lt.add_torrent_params()
        atp.ti = lt.torrent_info(path)
        atp.save_path = save
        # Seeding (no data files needed to serve metadata), neither paused nor auto-managed.
        atp.flags = lt.torrent_flags.seed_mode
        ses.add_torrent(atp)
    deadline = time.monotonic() + 10
    while ses.listen_port() == 0:
        if time.monotonic() > deadline:
            sys.exit("libtorrent did not start listening")
        time.sleep(0.01)
    print(f"listening {ses.listen_port()}", flush=True)
    sys.stdin.read()
    del ses
    os.rmdir(save)


if __name__ == "__main__":
    main()
