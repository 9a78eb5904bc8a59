"""Bounds: fork never exceeds --max-children and leaves no zombie; thread honours --max-threads."""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness import recv_exactly, wait_for


def echo_once(server, payload: bytes) -> bytes:
    with server.connect(timeout=30) as sock:
        sock.sendall(payload)
        return recv_exactly(sock, len(payload))


@pytest.mark.slow
def test_fork_thousand_connections_bounded_and_reaped(server_factory):
    limit = 8
    server = server_factory("echo", "fork", args=["--max-children", str(limit)])
    peak = 0
    done = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, len(server.descendants()))
            time.sleep(0.002)

    watcher = threading.Thread(target=watch)
    watcher.start()
    with ThreadPoolExecutor(max_workers=32) as pool:
        results = list(pool.map(lambda i: echo_once(server, b"%d\n" % i), range(1000)))
    done.set()
    watcher.join()
    assert results == [b"%d\n" % i for i in range(1000)]
    assert 0 < peak <= limit, f"saw {peak} children, limit {limit}"
    wait_for(lambda: server.descendants() == [], what="every child reaped, no zombie left")
    assert server.stop() == 0


@pytest.mark.parametrize("model,flag", [("thread", "--max-threads"), ("fork", "--max-children")])
def test_bound_holds_clients_in_the_backlog_until_a_place_frees(server_factory, model, flag):
    """With a bound of 2, a third client is not served until one of the first two leaves."""
    server = server_factory("echo", model, args=[flag, "2"])
    first, second = server.connect(), server.connect()
    for sock in (first, second):
        sock.sendall(b"hi")
        assert recv_exactly(sock, 2) == b"hi"
    if model == "thread":
        assert server.threads() == 3  # the main thread and one per client
    else:
        assert len(server.descendants()) == 2
    third = server.connect(timeout=0.5)
    third.sendall(b"waiting")
    with pytest.raises(socket.timeout):
        third.recv(10)  # accepted by the kernel, not by the server
    first.close()
    third.settimeout(10)
    assert recv_exactly(third, 7) == b"waiting"
    second.close()
    third.close()
    assert server.stop() == 0


def test_threadpool_serves_queued_clients_in_turn(server_factory):
    server = server_factory("echo", "threadpool", args=["--threads", "2", "--queue-size", "1"])
    held = [server.connect() for _ in range(2)]
    for sock in held:
        sock.sendall(b"x")
        assert recv_exactly(sock, 1) == b"x"
    queued = server.connect(timeout=0.5)
    queued.sendall(b"q")
    with pytest.raises(socket.timeout):
        queued.recv(1)  # in the queue: no worker is free
    held[0].close()
    queued.settimeout(10)
    assert recv_exactly(queued, 1) == b"q"
    assert server.threads() == 3  # main + the fixed pool, whatever the load
    for sock in (held[1], queued):
        sock.close()
    assert server.stop() == 0
