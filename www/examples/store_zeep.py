# Usage: python3 store_zeep.py file.torrent
import base64
import sys

import zeep
import zeep.exceptions

client = zeep.Client("{{BASE}}/api/thetorrent.wsdl")
with open(sys.argv[1], "rb") as f:
    torrent = base64.b64encode(f.read()).decode("ascii")
try:
    print(client.service.storeTorrent(torrent))
except zeep.exceptions.Fault as e:
    sys.exit("error: " + e.message)
