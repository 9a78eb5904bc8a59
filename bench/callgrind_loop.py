"""The `loop` case of bench/callgrind.py: the hello-world request through what a model runs,
not a recording transport. One EventLoop (epoll), the HTTP service's StreamTransport (with
the default idle timeout) and HTTPProtocol, over a real TCP connection on 127.0.0.1 in this
same process. Each request is one keep-alive GET written by the client end, the loop's turns
until the answer is there, and the client's read of it: what `hello` counts, plus the
poller, the dispatch, the transport's recv and send and the loop's timers.
"""

from __future__ import annotations

import socket

from server.net.loop import EventLoop
from server.net.pollers import EpollPoller
from server.protocols.http import HTTPConfig, HTTPService, Router

IDLE_TIMEOUT = 60.0  # the server's default (--timeout): the transport keeps an idle timer
MAX_TURNS = 8  # one turn answers a request; more means the answer is stuck: fail loudly


def connected_pair() -> tuple[socket.socket, socket.socket]:
    """Both ends of one TCP connection on the loopback: (server's end, client's end)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server_end, _ = listener.accept()
    client.setblocking(False)
    return server_end, client


def serve_on_loop(router: Router, request: bytes, requests: int) -> int:
    """Serve `requests` GETs over a loopback connection; the bytes the client read back."""
    loop = EventLoop(EpollPoller)
    server_end, client = connected_pair()
    service = HTTPService(router, HTTPConfig(), idle_timeout=IDLE_TIMEOUT)
    transport = service.attach(loop, server_end, server_end.getpeername(), lambda _: None)
    received = 0
    for _ in range(requests):
        client.sendall(request)
        received += _answer(loop, client)
    transport.abort()
    client.close()
    loop.close()
    return received


def _answer(loop: EventLoop, client: socket.socket) -> int:
    """Run the loop until the client has the answer; its length."""
    for _ in range(MAX_TURNS):
        loop.run_once()
        try:
            return len(client.recv(65536))
        except BlockingIOError:
            continue
    raise RuntimeError(f"no answer after {MAX_TURNS} turns of the loop")
