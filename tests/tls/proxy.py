#!/usr/bin/env python3
"""A TLS-terminating reverse proxy for the mirror tests (tests/mirror.rs), as nginx would sit in
front of a thetorrent server: serves https on 127.0.0.1 with the given certificate and key,
and forwards each GET or HEAD to the plain-HTTP upstream, answering its status, Content-Type,
Cache-Control and body.

Usage: proxy.py UPSTREAM_HOST:PORT CERT.pem KEY.pem
Prints "listening PORT" on stdout once it accepts connections; runs until killed.
Must never: listen on anything but loopback, or forward anything but GET and HEAD.
"""
import http.client
import http.server
import ssl
import sys

UPSTREAM = sys.argv[1]
CERT, KEY = sys.argv[2], sys.argv[3]
# Headers passed back from the upstream answer (the rest is the proxy's own).
PASSED = ("Content-Type", "Cache-Control", "Content-Disposition", "ETag", "Last-Modified")


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def forward(self, method):
        conn = http.client.HTTPConnection(UPSTREAM, timeout=30)
        try:
            conn.request(method, self.path, headers={"Host": UPSTREAM})
            resp = conn.getresponse()
            body = resp.read()
        finally:
            conn.close()
        self.send_response(resp.status)
        for name in PASSED:
            value = resp.getheader(name)
            if value is not None:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if method == "GET":
            self.wfile.write(body)

    def do_GET(self):
        self.forward("GET")

    def do_HEAD(self):
        self.forward("HEAD")

    def log_message(self, fmt, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(CERT, KEY)
server.socket = ctx.wrap_socket(server.socket, server_side=True)
print(f"listening {server.server_address[1]}", flush=True)
server.serve_forever()
