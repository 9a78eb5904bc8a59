"""net/links.py: the listener on a port range and the outgoing connect a protocol asks for,
on a real loop and real sockets (127.0.0.1 only)."""

from __future__ import annotations

import errno
import os
import socket

import pytest

from server.net.links import Links, NoFreePort
from server.net.loop import EventLoop
from server.net.pollers import PollPoller
from server.net.protocol import Protocol


@pytest.fixture
def loop():
    loop = EventLoop(PollPoller)
    yield loop
    loop.close()


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_a_listener_takes_a_port_of_its_range_and_offers_each_connection(loop):
    with socket.socket() as probe:  # a port that is free now
        probe.bind(("127.0.0.1", 0))
        low = probe.getsockname()[1]
    accepted = []
    only = range(low, low + 1)
    listener = Links(loop).listen("127.0.0.1", only, lambda *pair: accepted.append(pair))
    assert listener.port == low
    client = socket.create_connection(("127.0.0.1", low))
    loop.run(until=lambda: accepted)
    conn, addr = accepted[0]
    assert addr == client.getsockname()
    for sock in (conn, client):
        sock.close()
    listener.close()
    listener.close()  # twice is harmless
    assert loop.watched() == 0


def test_a_range_with_no_free_port_says_so_and_leaks_nothing(loop):
    links = Links(loop)
    taken = links.listen("127.0.0.1", None, lambda *pair: None)
    before = open_fds()
    with pytest.raises(NoFreePort):
        links.listen("127.0.0.1", range(taken.port, taken.port + 1), lambda *pair: None)
    assert open_fds() == before
    taken.close()


class _FullLoop(EventLoop):
    """A loop that cannot watch one more descriptor (select() past FD_SETSIZE)."""

    def set_interest(self, fd, handler, mask):
        if handler is not self.waker:
            raise OSError(f"fd {fd} is beyond select()'s FD_SETSIZE (1024)")
        super().set_interest(fd, handler, mask)


def test_a_socket_the_loop_cannot_watch_is_refused_and_closed():
    loop = _FullLoop(PollPoller)
    before = open_fds()
    failed = []
    with pytest.raises(OSError, match="FD_SETSIZE"):
        Links(loop).listen("127.0.0.1", None, lambda *pair: None)
    Links(loop).connect("127.0.0.1", ("127.0.0.1", 9), lambda *pair: None, failed.append)
    assert open_fds() == before  # closed, not leaked
    assert "FD_SETSIZE" in failed[0]
    loop.close()


def test_connect_reports_the_socket_or_the_reason(loop):
    links = Links(loop)
    server = links.listen("127.0.0.1", None, lambda conn, addr: conn.close())
    made, refused = [], []
    links.connect("127.0.0.1", ("127.0.0.1", server.port), lambda *pair: made.append(pair), None)
    loop.run(until=lambda: made)
    sock, target = made[0]
    assert target == ("127.0.0.1", server.port) and sock.getpeername() == target
    sock.close()
    server.close()  # nothing listens there now
    links.connect("127.0.0.1", ("127.0.0.1", server.port), None, refused.append)
    loop.run(until=lambda: refused)
    assert refused == [os.strerror(errno.ECONNREFUSED)]
    assert loop.watched() == 0


def test_an_ipv4_target_from_an_ipv6_socket_is_reached_mapped(loop, monkeypatch):
    seen = []
    monkeypatch.setattr("server.net.links.Connector.start", lambda self: seen.append(self))
    Links(loop).connect("::ffff:127.0.0.1", ("127.0.0.1", 21), None, None)
    Links(loop).connect("127.0.0.1", ("127.0.0.1", 21), None, None)
    assert [(c.sock.family, c.target) for c in seen] == [
        (socket.AF_INET6, ("::ffff:127.0.0.1", 21)),
        (socket.AF_INET, ("127.0.0.1", 21)),
    ]
    for connector in seen:
        connector.close()


class _Recorder(Protocol):
    def __init__(self):
        self.made = []

    def connection_made(self, transport):
        super().connection_made(transport)
        self.made.append(transport.peer)


def test_serve_runs_the_protocol_on_the_connected_socket(loop):
    ours, theirs = socket.socketpair()
    protocol = _Recorder()
    transport = Links(loop).serve(ours, protocol, 5.0, ("192.0.2.1", 20))
    assert protocol.made == [("192.0.2.1", 20)] and not transport.closed
    transport.abort()
    theirs.close()
