"""HTTP plumbing the two proxies share: a keep-alive request handler that reads any body (chunked too),
answers with a Content-Length and forwards to the stand-in behind it, and a threaded server on a free port that
holds the proxy's recording of stop requests.

The proxies are plain `http.server` on purpose: no dependency beyond the standard library, and every byte the
SDK sends is in our hands (the shims need to see and rewrite the exact wire shapes)."""
from __future__ import annotations

import http.client
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .common import HOST
from .shims.recording import Recording

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "expect", "proxy-connection"}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive for the Rust SDK's pooled connections; we always send Content-Length

    def do_GET(self):  # noqa: N802
        self.dispatch()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_GET

    def dispatch(self) -> None:  # overridden
        raise NotImplementedError

    def read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def send(self, status: int, body: bytes = b"", headers=()) -> None:
        self.send_response(status)
        for k, v in headers:
            if k.lower() not in HOP_BY_HOP and k.lower() not in ("server", "date"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status: int, obj, headers=()) -> None:
        self.send(status, json.dumps(obj).encode(), [("Content-Type", "application/json"), *headers])

    def upstream(self, method: str, path: str, body: bytes, headers=None):
        """Forward one request to self.server.upstream ((host, port)); returns (status, headers, body)."""
        if headers is None:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        conn = http.client.HTTPConnection(*self.server.upstream, timeout=60)
        try:
            conn.request(method, path, body=body if body or method in ("POST", "PUT") else None, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.getheaders(), resp.read()
        finally:
            conn.close()

    def log_message(self, fmt, *args):  # requests are not worth a line each on stderr
        pass


class ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # listen backlog; the default 5 is small for tests running in parallel

    def __init__(self, handler, upstream):
        super().__init__((HOST, 0), handler)
        self.upstream = upstream
        self.recording = Recording(on_clear=self.on_clear)

    @property
    def port(self) -> int:
        return self.server_address[1]

    def on_clear(self) -> None:
        """What else `DELETE /_recorded` forgets (nothing here; the moto proxy's overlay overrides it)."""
