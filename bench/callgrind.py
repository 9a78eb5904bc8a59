"""Instructions per HTTP request, counted by callgrind: a fixed number of keep-alive GETs
through the real HTTP protocol (parser, router, metrics, response head), on a transport that
only keeps what is written -- no sockets, so the count is repeatable. Two cases: `static`, a
small file under --root, and `hello`, the benchmark's hello-world WSGI app. `loop` is `hello`
and `static-loop` is `static` through the real event loop, transport and a TCP socket
(bench/callgrind_loop.py): the difference is what the loop and the transport cost a request.

    python3 -m bench.callgrind [--requests N] [--case static|hello|loop|static-loop]

runs itself twice under `valgrind --tool=callgrind` (N requests, then none) and prints the
difference per request: what serving one request costs, start-up excluded. The static file is
written first and left to settle (filecache.SETTLE_NS), as a deployed site's files are, so
repeat requests are served from the file cache as they would be in production.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

from bench.apps.hello import app as hello_app
from bench.callgrind_loop import serve_on_loop
from server.metrics import METRICS
from server.net.executor import INLINE
from server.protocols.http import HTTPConfig, Router
from server.protocols.http.connection import HTTPProtocol
from server.protocols.http.filecache import SETTLE_NS
from server.protocols.http.ops import Ops
from server.protocols.http.static import StaticFiles
from server.protocols.http.wsgi import WSGIApp

REQUESTS = {
    "static": b"GET /index.html HTTP/1.1\r\nHost: bench\r\nUser-Agent: callgrind\r\n\r\n",
    "hello": b"GET / HTTP/1.1\r\nHost: bench\r\nUser-Agent: callgrind\r\n\r\n",
}
REQUESTS["loop"], REQUESTS["static-loop"] = REQUESTS["hello"], REQUESTS["static"]


class _Timer:
    def cancel(self) -> None:
        pass


class _Scheduler:
    executor = INLINE  # application code runs where it is called, as under every model but hybrid
    time = staticmethod(time.monotonic)  # as EventLoop's
    now = 0.0  # as EventLoop's: the clock when the turn began (serve() reads it per request)

    def call_later(self, delay, callback, *args) -> _Timer:
        return _Timer()


class _Transport:
    """What HTTPProtocol needs of a transport; writes are counted and dropped."""

    closing = False
    secure = False  # plain HTTP (TLS would encrypt in the transport)
    peer = ("127.0.0.1", 40000)

    def __init__(self) -> None:
        self.written = 0

    def write(self, data: bytes) -> None:
        self.written += len(data)

    def send_file(self, file, offset: int, count: int, done) -> None:
        self.written += count
        done(None)

    def pending(self) -> bool:
        return False

    def close(self) -> None:
        self.closing = True


def serve(case: str, requests: int, root: str) -> int:
    """Serve `requests` GETs of the case on one connection; the bytes written."""
    METRICS.freeze(rows=4, service="http", model="bench")
    METRICS.serving(serve, one_thread=True)  # as a model serving from one thread does
    if case.startswith("static"):
        router = Router(ops=Ops("/-"), static=StaticFiles(root))
    else:
        router = Router(ops=Ops("/-"), app=WSGIApp(hello_app))
    if case.endswith("loop"):
        return serve_on_loop(router, REQUESTS[case], requests)
    protocol = HTTPProtocol(router, HTTPConfig(), _Scheduler())
    transport = _Transport()
    protocol.connection_made(transport)
    request = REQUESTS[case]
    scheduler = protocol.scheduler
    for _ in range(requests):
        scheduler.now = time.monotonic()  # what the loop reads once a turn
        protocol.data_received(request)
    return transport.written


def instructions(case: str, requests: int, root: str) -> int:
    """Total instructions (Ir) of one run under callgrind."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "callgrind.out")
        command = [
            "valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable,
            "-m", "bench.callgrind", "--case", case, "--serve", str(requests), "--root", root,
        ]  # fmt: skip
        subprocess.run(command, check=True, capture_output=True)
        with open(out) as file:
            return int(re.search(r"^summary: (\d+)", file.read(), re.M).group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--case", choices=sorted(REQUESTS), default="static")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.case, args.serve, args.root)
        return
    with tempfile.TemporaryDirectory() as root:
        with open(os.path.join(root, "index.html"), "wb") as file:
            file.write(b"<p>hello</p>\n" * 32)
        if args.case.startswith("static"):  # static-loop too: else the cache may take it mid-run
            time.sleep(SETTLE_NS / 1e9 + 0.1)
        total = instructions(args.case, args.requests, root)
        base = instructions(args.case, 0, root)
    per_request = (total - base) / args.requests
    print(f"{per_request:.0f} instructions per request ({args.case}, {args.requests} requests)")


if __name__ == "__main__":
    main()
