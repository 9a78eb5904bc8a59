"""Signals, timeouts and hostile clients, under every model."""

from __future__ import annotations

import os
import signal
import socket
import struct
import time

import pytest

from harness import MODELS, recv_exactly, wait_for


def clients_for(model: str) -> int:
    return 1 if model == "iterative" else 4  # iterative serves one client at a time by design


def refused(server) -> bool:
    try:
        with server.connect(timeout=2) as sock:
            sock.sendall(b"x")
            return sock.recv(1) == b""  # accepted by nobody: closed without an answer
    except OSError:
        return True


@pytest.mark.parametrize("model", MODELS)
def test_sigterm_lets_inflight_echo_complete(server_factory, model):
    server = server_factory("echo", model, args=["--graceful-timeout", "20"])
    socks = [server.connect() for _ in range(clients_for(model))]
    for i, sock in enumerate(socks):
        sock.sendall(b"first half %d " % i)
        assert recv_exactly(sock, len(b"first half %d " % i)) == b"first half %d " % i
    server.signal(signal.SIGTERM)
    wait_for(lambda: refused(server), what="the listener to close")
    for i, sock in enumerate(socks):  # mid-conversation clients are still served
        sock.sendall(b"second half %d\n" % i)
        assert recv_exactly(sock, len(b"second half %d\n" % i)) == b"second half %d\n" % i
        sock.close()
    assert server.wait(15) == 0, server.log()
    assert server.descendants() == []


@pytest.mark.parametrize("model", MODELS)
def test_graceful_timeout_ends_a_drain_that_never_finishes(server_factory, model):
    server = server_factory("echo", model, args=["--graceful-timeout", "1"])
    idle = server.connect()
    idle.sendall(b"x")
    assert recv_exactly(idle, 1) == b"x"
    started = time.monotonic()
    server.signal(signal.SIGTERM)
    assert server.wait(15) == 0, server.log()
    assert time.monotonic() - started < 8
    assert idle.recv(1) == b""  # closed by the server, not left hanging
    idle.close()


@pytest.mark.parametrize("model", MODELS)
def test_drain_delay_serves_new_clients_then_drains(server_factory, model):
    server = server_factory("echo", model, args=["--drain-delay", "2", "--graceful-timeout", "20"])
    started = time.monotonic()
    server.signal(signal.SIGTERM)
    time.sleep(0.5)  # the TERM has arrived; the listener must still be open
    with server.connect() as sock:
        sock.sendall(b"still served\n")
        assert recv_exactly(sock, 13) == b"still served\n"
    assert time.monotonic() - started < 2, "the client was not served within the delay"
    wait_for(lambda: refused(server), what="the listener to close after the delay")
    assert server.wait(15) == 0, server.log()
    assert time.monotonic() - started >= 2
    assert "--drain-delay" in server.log()
    assert server.descendants() == []


@pytest.mark.parametrize("model", ["epoll", "prefork"])
def test_second_term_drains_without_waiting_out_the_delay(server_factory, model):
    server = server_factory("echo", model, args=["--drain-delay", "30"])
    started = time.monotonic()
    server.signal(signal.SIGTERM)
    wait_for(lambda: "--drain-delay" in server.log(), what="the first TERM to be logged")
    server.signal(signal.SIGTERM)
    assert server.wait(15) == 0, server.log()
    assert time.monotonic() - started < 15


@pytest.mark.parametrize("model", ["epoll", "fork", "thread", "prefork"])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGQUIT])
def test_fast_stop(server_factory, model, signum):
    server = server_factory("echo", model, args=["--graceful-timeout", "60"])
    held = server.connect()
    held.sendall(b"x")
    assert recv_exactly(held, 1) == b"x"
    started = time.monotonic()
    server.signal(signum)
    assert server.wait(15) == 0, server.log()
    assert time.monotonic() - started < 8
    held.close()


@pytest.mark.parametrize("model", MODELS)
def test_idle_client_is_dropped_after_timeout(server_factory, model):
    server = server_factory("echo", model, args=["--timeout", "1"])
    with server.connect(timeout=10) as sock:
        sock.sendall(b"half a li")
        assert recv_exactly(sock, 9) == b"half a li"
        started = time.monotonic()
        assert sock.recv(10) == b""
        assert 0.8 < time.monotonic() - started < 6


@pytest.mark.parametrize("model", MODELS)
def test_hostile_clients_do_not_stop_service(server_factory, model):
    """A staller, a resetter and a connect-and-vanish flood; then a normal client is served."""
    server = server_factory(
        "echo", model, args=["--timeout", "2", "--max-children", "16", "--max-threads", "16"]
    )
    staller = server.connect()
    staller.sendall(b"half a line and then noth")
    resetter = server.connect()
    resetter.sendall(b"y" * 200_000)
    resetter.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    resetter.close()  # RST while the server is mid-echo
    for _ in range(200):  # more clients than any bound, each gone at once
        flood = socket.create_connection((server.host, server.port))
        flood.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        flood.close()
    with server.connect(timeout=20) as sock:  # iterative reaches us once the staller times out
        sock.sendall(b"still there?\n")
        assert recv_exactly(sock, 13) == b"still there?\n"
    staller.close()
    assert server.stop() == 0, server.log()


def _few_descriptors() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_NOFILE, (40, 40))


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.parametrize("model", ["epoll", "thread"])
def test_out_of_descriptors_backs_off_instead_of_spinning(server_factory, model):
    server = server_factory("echo", model, preexec_fn=_few_descriptors)
    clients = [socket.create_connection((server.host, server.port)) for _ in range(60)]
    wait_for(lambda: "Too many open files" in server.log(), what="EMFILE to be logged")
    before = _cpu_seconds(server.proc.pid)
    time.sleep(2)
    used = _cpu_seconds(server.proc.pid) - before
    assert used < 0.5, f"{used:.2f}s of CPU in 2s: spinning on accept"
    for sock in clients:
        sock.close()
    with server.connect(timeout=20) as sock:  # once descriptors free up, service resumes
        sock.sendall(b"back\n")
        assert recv_exactly(sock, 5) == b"back\n"
    assert server.stop() == 0
