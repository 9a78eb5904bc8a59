"""The PROXY header gate on a real transport (a socketpair): the protocol behind it starts only
once the client is known, gets the bytes that followed the header in order and only while it
reads, and an admission check can refuse a client."""

from __future__ import annotations

import socket

import pytest

from server.net.loop import EventLoop
from server.net.pollers import PollPoller
from server.net.protocol import Protocol
from server.net.proxy_gate import ProxyHeaderGate, ProxyPolicy
from server.net.stream_transport import StreamTransport
from server.net.trusted import TrustedPeers

HEADER = b"PROXY TCP4 203.0.113.7 192.0.2.1 5555 21\r\n"


class Recorder(Protocol):
    """Records what it is told; optionally pauses reading as soon as it starts."""

    def __init__(self, pause: bool = False):
        self.pause = pause
        self.peer = None
        self.received = b""
        self.lost = False

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self.peer = transport.peer
        if self.pause:
            transport.pause_reading()

    def data_received(self, data: bytes) -> None:
        self.received += data

    def connection_lost(self, exc) -> None:
        self.lost = True


@pytest.fixture
def pair():
    loop = EventLoop(PollPoller)
    ours, theirs = socket.socketpair()
    theirs.settimeout(5)
    yield loop, ours, theirs
    theirs.close()
    ours.close()
    loop.close()


def start(loop, sock, inner, admit=None, spec="unix", timeout=5.0) -> StreamTransport:
    gate = ProxyHeaderGate(inner, ProxyPolicy(TrustedPeers(spec), timeout), admit=admit)
    transport = StreamTransport(loop, sock, gate, peer="")
    transport.start()
    return transport


def turn(loop, until=lambda: False, limit: int = 500) -> bool:
    """Run loop turns (each at most ~10 ms) until `until()`; False if it never came."""
    for _ in range(limit):
        if until():
            return True
        loop.call_later(0.01, lambda: None)
        loop.run_once()
    return False


def test_the_protocol_starts_with_the_header_s_client_and_the_bytes_after_it(pair):
    loop, ours, theirs = pair
    inner = Recorder()
    start(loop, ours, inner)
    theirs.sendall(HEADER[:10])
    turn(loop, limit=5)
    assert inner.peer is None  # not started before the whole header
    theirs.sendall(HEADER[10:] + b"first")
    assert turn(loop, lambda: inner.received == b"first")
    assert inner.peer == ("203.0.113.7", 5555)
    theirs.sendall(b" second")
    assert turn(loop, lambda: inner.received == b"first second")


def test_early_bytes_wait_while_the_protocol_does_not_read(pair):
    loop, ours, theirs = pair
    inner = Recorder(pause=True)
    transport = start(loop, ours, inner)
    theirs.sendall(HEADER + b"early")
    assert turn(loop, lambda: inner.peer is not None)
    theirs.sendall(b" later")
    turn(loop, limit=5)
    assert inner.received == b""  # paused: held by the transport, not lost
    transport.resume_reading()
    assert turn(loop, lambda: inner.received == b"early later")


def test_an_admission_check_can_refuse_the_client(pair):
    loop, ours, theirs = pair
    inner = Recorder()
    seen = []
    transport = start(loop, ours, inner, admit=lambda client: seen.append(client) or "not you")
    theirs.sendall(HEADER)
    assert turn(loop, lambda: transport.closed)
    assert seen == [("203.0.113.7", 5555)]
    assert inner.peer is None and not inner.lost  # never started, so never ended
    assert theirs.recv(10) == b""


def test_an_untrusted_peer_is_closed_before_anything_is_read(pair):
    loop, ours, theirs = pair
    transport = start(loop, ours, Recorder(), spec="127.0.0.1")  # a Unix peer is not trusted
    assert transport.closed
    assert theirs.recv(10) == b""


def test_a_header_that_does_not_come_in_time_closes_the_connection(pair):
    loop, ours, theirs = pair
    inner = Recorder()
    transport = start(loop, ours, inner, timeout=0.05)
    theirs.sendall(HEADER[:5])
    assert turn(loop, lambda: transport.closed)
    assert inner.peer is None
