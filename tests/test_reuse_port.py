"""prefork --reuse-port: each worker listens on its own SO_REUSEPORT socket, bound after the
fork; the master holds the port without listening. (The HTTP functional suite runs under it as
the "prefork+reuse-port" variant, reloads and recycling in test_prefork_healing.py.)"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import pytest

from harness import PID_APP, ROOT, echo_concurrently, http_get, wait_for
from server.config import Settings
from server.models import Prefork
from server.models.acceptor import Acceptor
from server.net.address import Address
from server.net.loop import EventLoop
from server.net.sockets import hold_port, open_listener


@pytest.fixture
def pid_server(server_factory, tmp_path):
    (tmp_path / "pidapp.py").write_text(PID_APP)
    args = ["--app", "pidapp:app", "--workers", "2", "--reuse-port"]
    return server_factory("http", "prefork", args=args)


def pids_answering(server, requests: int = 40) -> list[int]:
    """The worker pid behind each of `requests` fresh connections."""
    answers = [http_get(server, timeout=15.0) for _ in range(requests)]
    assert all(status == 200 for status, _ in answers)
    return [int(body) for _, body in answers]


def listening_pids(server) -> set[int]:
    """Which of the server's processes hold a listening socket on its port (from /proc)."""
    inodes = _listening_inodes(server.port)
    holders = set()
    for pid in [server.proc.pid, *(pid for pid, _ in server.descendants())]:
        fds = f"/proc/{pid}/fd"
        for fd in os.listdir(fds):
            try:
                target = os.readlink(f"{fds}/{fd}")
            except OSError:
                continue
            if target.startswith("socket:[") and int(target[8:-1]) in inodes:
                holders.add(pid)
    return holders


def _listening_inodes(port: int) -> set[int]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":  # LISTEN
                    inodes.add(int(fields[9]))
    return inodes


@pytest.mark.parametrize("bind", ["127.0.0.1:0", "[::1]:0"])
@pytest.mark.parametrize("worker_model", ["epoll", "thread"])
def test_echo_streams_under_reuse_port(server_factory, bind, worker_model):
    server = server_factory(
        "echo", "prefork", bind=bind, args=["--reuse-port", "--worker-model", worker_model]
    )
    echo_concurrently(server)
    assert server.stop() == 0, server.log()


def test_each_worker_listens_on_its_own_socket_and_the_master_on_none(pid_server):
    workers = {pid for pid, _ in pid_server.descendants()}
    wait_for(lambda: listening_pids(pid_server) == workers, what="both workers listening")
    assert pid_server.proc.pid not in listening_pids(pid_server)  # it holds the port unlistened
    assert set(pids_answering(pid_server)) == workers  # the kernel spreads fresh connections


def test_a_killed_worker_is_replaced_and_its_replacement_binds_again(pid_server):
    first = {pid for pid, _ in pid_server.descendants()}
    victim = min(first)
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: len(listening_pids(pid_server) - first) == 1, what="a replacement listening")
    served = set(pids_answering(pid_server))
    assert victim not in served
    assert len(served) == 2 and served - first  # the replacement takes its share
    assert "died (signal 9)" in pid_server.log()


@pytest.mark.parametrize(
    ("bind", "flags", "reason"),
    [
        ("unix:{tmp}/s.sock", [], "TCP only"),
        ("127.0.0.1:0", ["--udp"], "TCP only"),
    ],
)
def test_unix_and_udp_are_refused_with_a_reason(tmp_path, bind, flags, reason):
    command = [sys.executable, "-m", "server", "echo", "--model", "prefork", "--reuse-port"]
    done = subprocess.run(
        [*command, "--bind", bind.format(tmp=tmp_path), *flags],
        capture_output=True, text=True, timeout=30, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert done.returncode == 2
    assert f"--reuse-port: {reason}" in done.stderr


def test_the_switch_has_an_environment_twin(monkeypatch):
    from server.cli import Parser, add_core_options
    from server.commands.base import Command

    def parse(*argv: str):
        parser = Parser(prog="server")  # reads the environment when the flags are made
        add_core_options(parser, Command("epoll", "127.0.0.1:0", lambda p: None, lambda *a: None))
        return parser.parse_args(argv)

    assert parse().reuse_port is False
    assert parse("--reuse-port").reuse_port is True
    monkeypatch.setenv("SERVER_REUSE_PORT", "1")
    assert parse().reuse_port is True


def test_port_zero_is_held_by_the_master_for_the_workers_to_join():
    held = hold_port(Address(host="127.0.0.1", port=0))
    try:
        assert held.address.port != 0
        with pytest.raises(OSError):  # held, not listening: nobody can connect yet
            socket.create_connection(("127.0.0.1", held.address.port), timeout=5).close()
        joined = Prefork.worker_listener(_Master(held))  # in a worker, after the fork
        try:
            assert joined.address.port == held.address.port and joined.own_queue
            socket.create_connection(("127.0.0.1", held.address.port), timeout=5).close()
        finally:
            joined.close()
    finally:
        held.close()


class _Master:
    """What Prefork.worker_listener reads of its master."""

    def __init__(self, listener):
        self.listener = listener
        self.settings = Settings(model="prefork", reuse_port=True)


def test_a_graceful_close_takes_the_queue_of_its_own_first():
    """A queue no other worker shares: what waits there is served, not reset by the close."""
    listener = open_listener(Address(host="127.0.0.1", port=0), reuse_port=True)
    loop = EventLoop()
    taken: list = []
    clients = [socket.create_connection(("127.0.0.1", listener.address.port)) for _ in range(3)]
    try:
        acceptor = Acceptor(loop, listener, lambda sock, addr: taken.append(sock))
        acceptor.close(graceful=True)  # never resumed: all three still queued
        assert len(taken) == 3 and acceptor.closed
    finally:
        for sock in [*taken, *clients]:
            sock.close()
        loop.close()
