#!/usr/bin/env python3
"""An HTTP proxy in front of a registry that fails on purpose, so the
tests can see slipway's client retry and resume:

  - every 4th request (not a PATCH) is answered 503 without reaching the
    registry;
  - the first PATCH reaches the registry, but its answer is dropped (the
    connection is closed): the client must ask where the upload stands;
  - the first blob GET gets the headers and half the body, then the
    connection closes.

usage: flaky-proxy.py LISTEN_PORT UPSTREAM_PORT LOG
Each line of LOG is "METHOD PATH -> what happened".
"""
import http.client
import http.server
import socket
import sys
import threading

LISTEN, UPSTREAM, LOG = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
lock = threading.Lock()
state = {"n": 0, "patch": 0, "blobget": 0}


def note(line):
    with lock, open(LOG, "a") as f:
        f.write(line + "\n")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def forward(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        with lock:
            state["n"] += 1
            fail = state["n"] % 4 == 0 and self.command != "PATCH"
            first_patch = first_blob_get = False
            if not fail and self.command == "PATCH":
                first_patch = state["patch"] == 0
                state["patch"] += 1
            if (not fail and self.command == "GET" and
                    "/blobs/sha256:" in self.path):
                first_blob_get = state["blobget"] == 0
                state["blobget"] += 1
        if fail:
            note("%s %s -> 503" % (self.command, self.path))
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        up = http.client.HTTPConnection("127.0.0.1", UPSTREAM, timeout=60)
        headers = {h: v for h, v in self.headers.items()
                   if h.lower() not in ("connection", "content-length")}
        if body is not None:
            headers["Content-Length"] = str(len(body))
        up.request(self.command, self.path, body=body, headers=headers)
        r = up.getresponse()
        data = r.read()
        up.close()
        if first_patch:
            note("%s %s -> dropped after %d" % (self.command, self.path,
                                                r.status))
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(r.status)
        for h, v in r.getheaders():
            if h.lower() not in ("transfer-encoding", "connection",
                                 "content-length", "date", "server"):
                self.send_header(h, v)
        if self.command == "HEAD":
            self.send_header("Content-Length",
                             r.getheader("Content-Length") or "0")
            self.end_headers()
            note("%s %s -> %d" % (self.command, self.path, r.status))
            return
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if first_blob_get and r.status == 200 and len(data) > 1:
            self.wfile.write(data[:len(data) // 2])
            self.wfile.flush()
            note("%s %s -> cut at %d" % (self.command, self.path,
                                        len(data) // 2))
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(data)
        note("%s %s -> %d" % (self.command, self.path, r.status))

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = forward


server = http.server.ThreadingHTTPServer(("127.0.0.1", LISTEN), Handler)
server.daemon_threads = True
server.serve_forever()
