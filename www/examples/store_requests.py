# Usage: python3 store_requests.py file.torrent
import sys

import requests

with open(sys.argv[1], "rb") as f:
    r = requests.post("{{BASE}}/api/upload", files={"torrent": f})
if r.headers.get("X-Thetorrent-Result") == "stored":
    print(r.headers["X-Thetorrent-Hash"])
else:
    sys.exit("error: " + r.text.strip())
