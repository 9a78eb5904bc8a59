"""Prefork workers that heal: --worker-timeout, --max-requests, and a HUP that cannot make
things worse (new workers must be ready before the old ones drain)."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from harness import PID_APP, http_get, run_concurrently, wait_for


@pytest.fixture
def start_app(server_factory, tmp_path):
    (tmp_path / "pidapp.py").write_text(PID_APP)

    def start(*args: str):
        return server_factory("http", "prefork", args=["--app", "pidapp:app", *args])

    return start


def get(server, path: str = "/") -> tuple[int, bytes]:
    return http_get(server, path, timeout=15.0)  # a replaced worker may take a while


def worker_pid(server) -> int:
    status, body = get(server)
    assert status == 200
    return int(body)


def answered_by_another(server, stuck: int) -> bool:
    """A request the stuck worker had already taken dies with it; the next one is served."""
    try:
        return worker_pid(server) != stuck
    except OSError:
        return False


@pytest.mark.parametrize("worker_model", ["epoll", "hybrid"])
def test_a_stuck_worker_is_replaced_and_the_next_request_served(start_app, worker_model):
    server = start_app("--workers", "1", "--worker-model", worker_model, "--worker-timeout", "2")
    stuck = worker_pid(server)
    spinner = server.connect()
    spinner.sendall(b"GET /spin HTTP/1.1\r\nHost: t\r\n\r\n")
    started = time.monotonic()
    try:
        wait_for(lambda: answered_by_another(server, stuck), timeout=20, what="a new worker")
        assert time.monotonic() - started < 2 + 8  # the timeout, plus a few seconds
    finally:
        spinner.close()
    assert "sent no heartbeat" in server.log()


#: How the workers listen: on the master's socket, or each on its own (a drained worker's queue
#: is its own then: it must take what waits there before closing, and a recycling worker
#: serves on until its replacement is ready, which takes a heartbeat or two).
SHARING = {"shared": (), "reuse-port": ("--reuse-port",)}


@pytest.mark.parametrize(
    ("worker_model", "sharing"),
    [("epoll", "shared"), ("hybrid", "shared"), ("epoll", "reuse-port")],
)
def test_max_requests_recycles_workers_without_a_failed_request(start_app, worker_model, sharing):
    server = start_app(
        *("--workers", "2", "--worker-model", worker_model, *SHARING[sharing]),
        *("--max-requests", "100", "--max-requests-jitter", "20"),
    )
    pids: set[int] = set()
    failures: list = []

    deadline = time.monotonic() + 30

    def client(n: int) -> None:
        for _ in range(20000):  # bounded in count and time; enough once six workers answered
            if len(pids) >= 6 or time.monotonic() > deadline:
                return
            try:
                pids.add(worker_pid(server))
            except Exception as exc:  # every failure is counted, none hidden
                failures.append(exc)

    run_concurrently(client, 4, timeout=120)
    assert failures == []
    assert len(pids) >= 6


def test_health_checks_do_not_count_towards_max_requests(start_app):
    server = start_app("--workers", "1", "--max-requests", "3")
    first = worker_pid(server)
    for _ in range(10):
        assert get(server, "/-/health")[0] == 200
    assert [worker_pid(server) for _ in range(2)] == [first, first]  # the 3rd: it drains now
    wait_for(lambda: worker_pid(server) != first, what="the recycled worker's replacement")


def test_hup_waits_for_ready_workers_and_a_broken_app_keeps_the_old_ones(start_app, tmp_path):
    server = start_app("--workers", "2")
    worker_pid(server)  # serving
    # every old worker, from the process tree: 20 requests may all land on one of them
    before = {pid for pid, _ in server.descendants()}
    assert len(before) == 2
    (tmp_path / "pidapp.py").write_text("def app(environ, start_response)\n    oops\n")
    server.signal(signal.SIGHUP)
    wait_for(lambda: "reload failed" in server.log(), what="the failed reload")
    assert "cannot import pidapp" in server.log()  # the reason, logged
    served = {worker_pid(server) for _ in range(20)}
    assert served <= before and served  # the old workers, still serving
    (tmp_path / "pidapp.py").write_text(PID_APP)
    server.signal(signal.SIGHUP)
    wait_for(lambda: "new workers ready" in server.log(), what="the second reload")
    wait_for(lambda: not ({worker_pid(server) for _ in range(10)} & before), what="new workers")


@pytest.mark.parametrize("sharing", SHARING)
def test_hup_refuses_no_request(start_app, sharing):
    server = start_app("--workers", "2", *SHARING[sharing])
    failures: list = []
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            try:
                worker_pid(server)
            except Exception as exc:  # every failure is counted, none hidden
                failures.append(exc)

    clients = [threading.Thread(target=load) for _ in range(3)]
    for thread in clients:
        thread.start()
    try:
        server.signal(signal.SIGHUP)
        wait_for(lambda: "new workers ready" in server.log(), what="the reload")
        time.sleep(0.5)
    finally:
        stop.set()
        for thread in clients:
            thread.join(20)
    assert failures == []
