"""The prefork master: replaces dead workers, scales with TTIN/TTOU, HUP without refusals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from harness import ROOT, recv_exactly, wait_for


def workers(server) -> set[int]:
    return {pid for pid, state in server.descendants() if state != "Z"}


def echo(server, payload: bytes = b"ping\n") -> bytes:
    with server.connect() as sock:
        sock.sendall(payload)
        return recv_exactly(sock, len(payload))


@pytest.fixture
def prefork(server_factory):
    server = server_factory("echo", "prefork", args=["--workers", "3"])
    wait_for(lambda: len(workers(server)) == 3, what="3 workers")
    return server


def test_killed_worker_is_replaced(prefork):
    before = workers(prefork)
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    after = wait_for(
        lambda: (w := workers(prefork)) and len(w) == 3 and victim not in w and w,
        what="a replacement worker",
    )
    assert len(after - before) == 1
    assert echo(prefork) == b"ping\n"
    assert "died (signal 9); replacing it" in prefork.log()


def test_ttin_and_ttou_change_the_worker_count(prefork):
    prefork.signal(signal.SIGTTIN)
    wait_for(lambda: len(workers(prefork)) == 4, what="4 workers")
    for count in (3, 2):  # one at a time: a second TTOU sent at once may merge with the first
        prefork.signal(signal.SIGTTOU)
        wait_for(lambda c=count: len(workers(prefork)) == c, what=f"{count} workers")
    assert echo(prefork) == b"ping\n"


def test_hup_replaces_every_worker_without_refusing_a_connection(prefork):
    before = workers(prefork)
    failures: list[BaseException] = []
    served = 0
    stop = threading.Event()

    def load() -> None:
        nonlocal served
        deadline = time.monotonic() + 20  # bounded in time and count
        while not stop.is_set() and time.monotonic() < deadline and served < 20000:
            try:
                assert echo(prefork, b"load\n") == b"load\n"
                served += 1
            except BaseException as exc:
                failures.append(exc)

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    prefork.signal(signal.SIGHUP)
    after = wait_for(
        lambda: (w := workers(prefork)) and len(w) == 3 and not (w & before) and w,
        timeout=15,
        what="a whole new set of workers",
    )
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join()
    assert not failures, failures[:3]
    assert served > 50
    assert len(after) == 3


BROKEN_WORKER = """
import logging, sys
from server.config import Settings
from server.models.base import Model
from server.models.prefork import Prefork
from server.net.address import parse_address
from server.net.sockets import open_listener
from server.protocols.echo import EchoProtocol
from server.service import ProtocolService

class Broken(Model):
    name = "broken"
    def __init__(self, *args):
        raise RuntimeError("cannot start")

logging.basicConfig(level="INFO")
listener = open_listener(parse_address("127.0.0.1:0"))
service = ProtocolService("echo", stream=lambda loop: EchoProtocol())
sys.exit(Prefork(service, listener, Settings(workers=2), inner=Broken).serve())
"""


def test_worker_that_cannot_start_stops_the_master(tmp_path):
    """A boot error in a worker ends the master with status 1 instead of a respawn loop."""
    script = tmp_path / "broken.py"
    script.write_text(BROKEN_WORKER)
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 1, result.stderr
    assert "could not start; stopping" in result.stderr
    assert result.stderr.count("cannot start") <= 4  # two workers at most, no loop
    assert time.monotonic() - started < 10
