"""A loopback HTTP server for tests: 127.0.0.1 only, one handler function, stops on exit or after a lifetime."""
from __future__ import annotations

import http.server
import threading
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import parse_qs, urlsplit


@dataclass
class Reply:
    """What the handler answers: status, body, headers; ``cut_after`` bytes sent, then the connection closed."""

    status: int = 200
    body: bytes = b''
    headers: dict = field(default_factory=dict)
    cut_after: int | None = None


@dataclass
class Seen:
    """One request as received: method, path (no query), query values and headers."""

    method: str
    path: str
    query: dict
    headers: dict


class LoopbackServer:
    """``with LoopbackServer(handler) as server:`` serves ``handler(Seen) -> Reply`` at ``server.url``.

    Every request is recorded in ``server.seen``. The server shuts itself down after ``lifetime_s``
    seconds even if the test never exits the block.
    """

    def __init__(self, handler: Callable[[Seen], Reply], lifetime_s: float = 120):
        self.handler, self.seen, self.lifetime_s = handler, [], lifetime_s
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def _answer(self):
                parts = urlsplit(self.path)
                length = int(self.headers.get('Content-Length') or 0)
                if length:
                    self.rfile.read(length)
                request = Seen(self.command, parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()},
                               dict(self.headers))
                outer.seen.append(request)
                reply = outer.handler(request)
                self.send_response(reply.status)
                headers = {'Content-Length': str(len(reply.body)), **reply.headers}
                for key, value in headers.items():
                    self.send_header(key, value)
                if reply.cut_after is not None:
                    self.send_header('Connection', 'close')
                self.end_headers()
                self.wfile.write(reply.body if reply.cut_after is None else reply.body[:reply.cut_after])
                if reply.cut_after is not None:
                    self.wfile.flush()
                    self.close_connection = True

            do_GET = do_POST = do_HEAD = _answer

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f'http://127.0.0.1:{self.httpd.server_address[1]}'
        self._timer = threading.Timer(lifetime_s, self.httpd.shutdown)

    def __enter__(self) -> 'LoopbackServer':
        threading.Thread(target=self.httpd.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True).start()
        self._timer.daemon = True
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._timer.cancel()
        self.httpd.shutdown()
        self.httpd.server_close()

    def paths(self, method: str = 'GET') -> list[str]:
        return [s.path for s in self.seen if s.method == method]


def serve_file(body: bytes, request: Seen, etag: str = '"v1"') -> Reply:
    """A file reply that honours ``Range: bytes=N-`` (206) and ``If-Range`` as a web server does."""
    wanted = request.headers.get('Range', '')
    if wanted.startswith('bytes=') and request.headers.get('If-Range', etag) == etag:
        start = int(wanted[len('bytes='):].split('-')[0])
        return Reply(206, body[start:], {'Content-Range': f'bytes {start}-{len(body) - 1}/{len(body)}', 'ETag': etag})
    return Reply(200, body, {'ETag': etag})
