"""The hybrid model: the loop does the I/O, a bounded pool runs the application.

Each test runs under `hybrid` and under prefork with one hybrid worker; the first also runs
under epoll to show the trade-off the hybrid model removes (one slow request stalls the loop).
"""

from __future__ import annotations

import re
import socket
import threading
import time

import pytest

from harness import http_get, run_concurrently

APP = """
import time

def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path.startswith("/slow"):
        time.sleep(0.3)
    if path.startswith("/drip"):  # a streamed body, slow between its chunks
        start_response("200 OK", [("Content-Type", "text/plain")])
        return drip()
    body = path.encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def drip():
    for part in (b"one ", b"two ", b"three"):
        time.sleep(0.3)
        yield part
"""

HYBRIDS = {
    "hybrid": ("hybrid", []),
    "prefork+hybrid": ("prefork", ["--worker-model", "hybrid", "--workers", "1"]),
}


@pytest.fixture
def start_app(server_factory, tmp_path):
    (tmp_path / "slowapp.py").write_text(APP)

    def start(model: str, args=()):
        return server_factory("http", model, args=["--app", "slowapp:app", *args])

    return start


def send_slow_requests(server, count: int) -> list[threading.Thread]:
    results: list = []
    threads = [
        threading.Thread(target=lambda n=n: results.append(http_get(server, f"/slow/{n}")))
        for n in range(count)
    ]
    for thread in threads:
        thread.start()
    time.sleep(0.15)  # the slow requests are in the server before the fast one
    return threads


def fast_request_time(server) -> float:
    slow = send_slow_requests(server, 6)
    started = time.monotonic()
    assert http_get(server, "/fast") == (200, b"/fast")
    elapsed = time.monotonic() - started
    for thread in slow:
        thread.join(15)
    return elapsed


@pytest.mark.parametrize("kind", HYBRIDS)
def test_slow_requests_do_not_delay_a_fast_one(start_app, kind):
    server = start_app(*HYBRIDS[kind])
    http_get(server, "/warm-up")
    assert fast_request_time(server) < 0.15


@pytest.mark.parametrize("kind", HYBRIDS)
def test_a_body_slow_between_its_chunks_delays_nobody_else(start_app, kind):
    """The chunks of a streamed body are made on the pool too, not on the loop."""
    server = start_app(*HYBRIDS[kind])
    http_get(server, "/warm-up")
    dripping: list = []
    drips = [threading.Thread(target=lambda: dripping.append(http_get(server, "/drip")))
             for _ in range(2)]  # fmt: skip
    for thread in drips:
        thread.start()
    time.sleep(0.45)  # both are between chunks now
    started = time.monotonic()
    assert http_get(server, "/fast") == (200, b"/fast")
    assert time.monotonic() - started < 0.15
    for thread in drips:
        thread.join(15)
    assert [body for _, body in dripping] == [b"one two three"] * 2


def test_under_epoll_slow_requests_do_delay_a_fast_one(start_app):
    server = start_app("epoll")
    http_get(server, "/warm-up")
    assert fast_request_time(server) > 0.3  # it waits for at least one slow request


@pytest.mark.parametrize("kind", HYBRIDS)
def test_slowloris_clients_do_not_stop_normal_ones(start_app, kind):
    model, args = HYBRIDS[kind]
    server = start_app(model, [*args, "--threads", "4", "--header-timeout", "30"])
    holders = []
    try:
        for n in range(400):
            sock = server.connect()
            sock.sendall(f"GET /held/{n} HTTP/1.1\r\nHost: t\r\nX-Partial: ".encode())
            holders.append(sock)
        for n in range(5):
            started = time.monotonic()
            assert http_get(server, f"/normal/{n}") == (200, f"/normal/{n}".encode())
            assert time.monotonic() - started < 1.0
    finally:
        for sock in holders:
            sock.close()


@pytest.mark.parametrize("kind", HYBRIDS)
def test_a_full_queue_pauses_and_loses_nothing(start_app, kind):
    model, args = HYBRIDS[kind]
    server = start_app(model, [*args, "--threads", "1", "--queue-size", "1"])
    answers: dict[int, tuple[int, bytes]] = {}

    def client(n: int) -> None:
        answers[n] = http_get(server, f"/slow/{n}", timeout=30)

    run_concurrently(client, 8)
    assert answers == {n: (200, f"/slow/{n}".encode()) for n in range(8)}
    metrics = http_get(server, "/-/metrics")[1].decode()
    full = re.search(r"^server_pool_full_total (\d+)", metrics, re.M)
    assert full and int(full.group(1)) >= 1


def test_a_client_gone_while_the_app_runs_costs_nothing(start_app):
    server = start_app("hybrid", ["--threads", "1"])
    with server.connect() as sock:
        sock.sendall(b"GET /slow/gone HTTP/1.1\r\nHost: t\r\n\r\n")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    assert http_get(server, "/after") == (200, b"/after")
