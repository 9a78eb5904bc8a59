"""The transports on real sockets and the real loop, one table of cases each.

Stream cases run over a socketpair under every poller the models use: what the protocol is
told, what the peer receives (bytes, order, end of stream), which callbacks fire and with what.
Datagram cases run over UDP on 127.0.0.1 and Unix datagram sockets."""

from __future__ import annotations

import io
import os
import select
import socket
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from server.net import output_queue
from server.net.datagram_transport import DatagramTransport
from server.net.executor import ThreadPool
from server.net.loop import EventLoop
from server.net.pollers import POLLERS
from server.net.protocol import NO_DELAY, URGENT_INLINE, DatagramProtocol, Protocol
from server.net.proxy_gate import ProxyPolicy
from server.net.stream_transport import StreamTransport
from server.net.trusted import TrustedPeers
from server.service import ProtocolService

PAYLOAD = bytes(range(256)) * 2048  # 512 KiB: many times a small socket buffer
FILE = b"0123456789abcdef" * 8
POLLER_NAMES = [name for name in POLLERS if hasattr(select, name)]


class Recorder(Protocol):
    """Records what the transport tells it; `keep_open` answers the peer's EOF."""

    def __init__(self, keep_open: bool = False):
        self.keep_open = keep_open
        self.received = b""
        self.events: list[str] = []
        self.lost: list[str] = []

    def data_received(self, data: bytes) -> None:
        self.received += data

    def eof_received(self) -> bool:
        self.events.append("eof")
        return self.keep_open

    def idle_timeout(self) -> None:
        self.events.append("idle")
        super().idle_timeout()

    def connection_lost(self, exc: BaseException | None) -> None:
        self.lost.append(_kind(exc))


def _kind(exc: BaseException | None) -> str:
    return "None" if exc is None else type(exc).__name__


@dataclass
class Wire:
    """Our end under a StreamTransport on `loop`; `peer` is the other end, read here."""

    loop: EventLoop
    transport: StreamTransport
    protocol: Recorder
    peer: socket.socket
    got: bytes = b""
    peer_eof: bool = False
    done: list[tuple[str, str]] = field(default_factory=list)

    def turn(self, until: Callable[[], bool] = lambda: False, limit: int = 3000, read=True) -> bool:
        """Loop turns (at most ~10 ms each), the peer reading between them, until `until()`."""
        for _ in range(limit):
            if read:
                self.read_peer()
            if until():
                return True
            self.loop.call_later(0.01, lambda: None)
            self.loop.run_once()
        return False

    def read_peer(self) -> None:
        while not self.peer_eof:
            try:
                data = self.peer.recv(65536)
            except BlockingIOError:
                return
            self.got += data
            self.peer_eof = not data

    def on_done(self, name: str) -> Callable[[BaseException | None], None]:
        return lambda exc: self.done.append((name, _kind(exc)))

    def small_buffers(self) -> None:
        self.transport.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        self.peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)


# -- the stream cases: each acts on a wire and returns what it saw ------------------------------
def reads_arrive_in_order(w: Wire) -> dict:
    w.peer.sendall(b"one ")
    w.turn(lambda: w.protocol.received)
    w.peer.sendall(b"two")
    w.turn(lambda: len(w.protocol.received) == 7)
    return {"received": w.protocol.received, "lost": w.protocol.lost}


class Copied:
    """A file-like object with no descriptor (seek and read only): its range is copied."""

    def __init__(self, data: bytes):
        self._file = io.BytesIO(data)
        self.seek, self.read = self._file.seek, self._file.read


class Unsendable(io.BytesIO):
    """A descriptor sendfile refuses (EINVAL, as for some /proc files): the range is copied."""

    def __init__(self, data: bytes, refused):
        super().__init__(data)
        self._refused = refused

    def fileno(self) -> int:
        return self._refused.fileno()


def every_entry_in_order(w: Wire) -> dict:
    moved: list[int] = []
    sendfile = os.sendfile

    def counted(*args) -> int:
        moved.append(sendfile(*args))
        return moved[-1]

    with tempfile.TemporaryFile() as file, open("/proc/self/status", "rb") as refused:
        file.write(FILE)
        file.flush()
        output_queue.os.sendfile = counted
        try:
            w.transport.write(b"<")
            w.transport.send_file(file, 5, 20, w.on_done("sendfile"))
            w.transport.send_file(Copied(FILE), 3, 4, w.on_done("buffered"))
            w.transport.send_file(Unsendable(FILE, refused), 40, 8, w.on_done("fallback"))
            w.transport.send_producer(iter([b"p1", b"", b"p2"]), w.on_done("producer"))
            w.transport.when_sent(w.on_done("callback"))
            w.transport.write(b">")
            w.turn(lambda: w.got.endswith(b">"))
        finally:
            output_queue.os.sendfile = sendfile
    return {"peer got": w.got, "done": w.done, "sendfile moved": sum(moved)}


def partial_writes_queue_and_drain(w: Wire) -> dict:
    w.small_buffers()
    w.transport.write(PAYLOAD)
    w.transport.when_sent(w.on_done("sent"))
    queued, told_early = w.transport.pending(), list(w.done)
    w.turn(lambda: w.done)
    return {"queued": queued, "told early": told_early, "intact": w.got == PAYLOAD, "done": w.done}


def producer_on_a_pool_in_order(w: Wire) -> dict:
    w.loop.executor = ThreadPool(w.loop, 1, 4)
    try:
        w.transport.send_producer(iter([b"a" * 70000, b"b", b"c" * 300000]), w.on_done("pool"))
        w.transport.write(b"!")
        w.turn(lambda: w.got.endswith(b"!"))
    finally:
        w.loop.executor.close()
    return {"intact": w.got == b"a" * 70000 + b"b" + b"c" * 300000 + b"!", "done": w.done}


def pause_holds_reads_until_resume(w: Wire) -> dict:
    w.transport.pause_reading()
    w.peer.sendall(b"held")
    w.turn(limit=20)
    paused = w.protocol.received
    w.transport.resume_reading()
    w.turn(lambda: w.protocol.received)
    return {"while paused": paused, "after resume": w.protocol.received}


def write_through_waits_for_the_socket(w: Wire) -> dict:
    """Backpressure for a WSGI write(): the caller blocks until the peer has taken it all."""
    w.small_buffers()
    w.peer.settimeout(10)
    received = bytearray()

    def drain() -> None:
        while len(received) < len(PAYLOAD):
            received.extend(w.peer.recv(65536))

    reader = threading.Thread(target=drain)
    reader.start()
    w.transport.write_through(PAYLOAD)
    pending = w.transport.pending()
    reader.join(10)
    return {"pending on return": pending, "intact": bytes(received) == PAYLOAD}


def close_sends_everything_first(w: Wire) -> dict:
    w.small_buffers()
    w.transport.write(PAYLOAD)
    w.transport.close()
    closed_at_once = w.transport.closed
    w.turn(lambda: w.peer_eof)
    w.peer.close()  # our FIN ends the transport's linger
    w.turn(lambda: w.transport.closed, read=False)
    return {
        "closed at once": closed_at_once,
        "intact": w.got == PAYLOAD,
        "lost": w.protocol.lost,
    }


def abort_drops_the_queue(w: Wire) -> dict:
    w.small_buffers()
    w.transport.write(PAYLOAD)
    w.transport.when_sent(w.on_done("sent"))
    w.transport.abort()
    w.transport.send_file(Copied(FILE), 0, 4, w.on_done("after"))
    w.turn(lambda: w.peer_eof)
    return {"done": w.done, "lost": w.protocol.lost, "all sent": w.got == PAYLOAD}


def peer_eof_closes(w: Wire) -> dict:
    w.peer.shutdown(socket.SHUT_WR)
    w.turn(lambda: w.transport.closed and w.peer_eof)
    return {"events": w.protocol.events, "lost": w.protocol.lost, "peer got": w.got}


def half_close_still_answers(w: Wire) -> dict:
    w.protocol.keep_open = True
    w.peer.sendall(b"question")
    w.peer.shutdown(socket.SHUT_WR)
    w.turn(lambda: w.protocol.events)
    w.transport.write(b"answer to " + w.protocol.received)
    w.transport.close()
    w.turn(lambda: w.transport.closed and w.peer_eof)
    return {"events": w.protocol.events, "peer got": w.got, "lost": w.protocol.lost}


def reset_is_reported_once(w: Wire) -> dict:
    w.transport.write(b"never read")
    w.peer.close()  # with our bytes unread: our side sees ECONNRESET
    w.turn(lambda: w.transport.closed, read=False)
    w.transport.write(b"late")
    w.transport.close()
    w.transport.abort()
    return {"lost": w.protocol.lost}


def a_failing_producer_cuts_the_connection(w: Wire) -> dict:
    def broken():
        yield b"head"
        raise RuntimeError("application bug")

    w.transport.send_producer(broken(), w.on_done("producer"))
    w.turn(lambda: w.peer_eof)
    return {"peer got": w.got, "done": w.done, "lost": w.protocol.lost}


def a_short_file_is_an_error_not_padding(w: Wire) -> dict:
    w.transport.send_file(Copied(b"short"), 0, 100, w.on_done("file"))
    w.turn(lambda: w.peer_eof)
    return {"peer got": w.got, "done": w.done, "lost": w.protocol.lost}


def idle_connections_are_dropped(w: Wire) -> dict:
    w.transport.set_idle_timeout(0.05)
    w.turn(lambda: w.peer_eof)
    return {"events": w.protocol.events, "lost": w.protocol.lost}


STREAM_CASES = {
    reads_arrive_in_order: {"received": b"one two", "lost": []},
    every_entry_in_order: {
        "peer got": b"<" + FILE[5:25] + FILE[3:7] + FILE[40:48] + b"p1p2>",
        "done": [
            ("sendfile", "None"),
            ("buffered", "None"),
            ("fallback", "None"),
            ("producer", "None"),
            ("callback", "None"),
        ],
        "sendfile moved": 20,
    },
    partial_writes_queue_and_drain: {
        "queued": True,
        "told early": [],
        "intact": True,
        "done": [("sent", "None")],
    },
    producer_on_a_pool_in_order: {"intact": True, "done": [("pool", "None")]},
    pause_holds_reads_until_resume: {"while paused": b"", "after resume": b"held"},
    write_through_waits_for_the_socket: {"pending on return": False, "intact": True},
    close_sends_everything_first: {"closed at once": False, "intact": True, "lost": ["None"]},
    abort_drops_the_queue: {
        "done": [("sent", "ConnectionAbortedError"), ("after", "ConnectionAbortedError")],
        "lost": ["None"],
        "all sent": False,
    },
    peer_eof_closes: {"events": ["eof"], "lost": ["None"], "peer got": b""},
    half_close_still_answers: {
        "events": ["eof"],
        "peer got": b"answer to question",
        "lost": ["None"],
    },
    reset_is_reported_once: {"lost": ["ConnectionResetError"]},
    a_failing_producer_cuts_the_connection: {
        "peer got": b"head",
        "done": [("producer", "RuntimeError")],
        "lost": ["RuntimeError"],
    },
    a_short_file_is_an_error_not_padding: {
        "peer got": b"short",
        "done": [("file", "OSError")],
        "lost": ["OSError"],
    },
    idle_connections_are_dropped: {"events": ["idle"], "lost": ["None"]},
}


@pytest.mark.parametrize("poller", POLLER_NAMES)
@pytest.mark.parametrize("case", STREAM_CASES, ids=lambda case: case.__name__)
def test_stream_transport(case, poller):
    loop = EventLoop(POLLERS[poller])
    ours, peer = socket.socketpair()
    peer.setblocking(False)
    protocol = Recorder()
    transport = StreamTransport(loop, ours, protocol, peer="")
    try:
        transport.start()
        assert case(Wire(loop, transport, protocol, peer)) == STREAM_CASES[case]
    finally:
        transport.abort()
        peer.close()
        loop.close()


# -- socket options: declared by the protocol, set by net/ -------------------------------------
class Declares(Recorder):
    tcp_options = (NO_DELAY, URGENT_INLINE)


def _options(sock: socket.socket) -> tuple[int, int]:
    nodelay = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    return int(bool(nodelay)), int(bool(sock.getsockopt(socket.SOL_SOCKET, socket.SO_OOBINLINE)))


@pytest.mark.parametrize(
    "protocol, proxy, expected",
    [
        (Declares, None, (1, 1)),
        (Declares, "127.0.0.1", (1, 1)),  # behind the PROXY gate: still the protocol's own
        (Recorder, None, (0, 0)),
    ],
)
def test_a_service_sets_its_protocols_tcp_options(protocol, proxy, expected):
    loop = EventLoop()
    policy = ProxyPolicy(TrustedPeers(proxy), 5.0) if proxy else None
    service = ProtocolService("options", stream=protocol, proxy=policy)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname(), timeout=5)
        ours, addr = listener.accept()
    try:
        transport = service.attach(loop, ours, addr, on_close=None)
        assert _options(ours) == expected and not transport.closed
    finally:
        ours.close()
        client.close()
        loop.close()


def test_tcp_options_are_not_asked_of_a_unix_socket():
    loop = EventLoop()
    ours, peer = socket.socketpair()
    protocol = Declares()
    transport = StreamTransport(loop, ours, protocol, peer="", tcp_options=Declares.tcp_options)
    try:
        transport.start()
        peer.sendall(b"still served")
        Wire(loop, transport, protocol, peer).turn(lambda: protocol.received, read=False)
        assert protocol.received == b"still served" and not transport.closed
    finally:
        transport.abort()
        peer.close()
        loop.close()


# -- the datagram cases -------------------------------------------------------------------------
class Echo(DatagramProtocol):
    """Answers each datagram with itself; b"bug" raises, as a protocol bug would."""

    def datagram_received(self, data: bytes, addr, transport: DatagramTransport) -> None:
        if data == b"bug":
            raise ValueError("a protocol bug")
        transport.sendto(data, addr)


def _udp_pair():
    server, client = (socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2))
    for sock in (server, client):
        sock.bind(("127.0.0.1", 0))
    server.setblocking(False)  # as the models' listening sockets are
    client.settimeout(5)
    return server, client


def _replies(loop: EventLoop, client: socket.socket, count: int) -> list[bytes]:
    """Turn the loop until `count` datagrams reached `client` (or about 5 s passed)."""
    replies: list[bytes] = []
    for _ in range(500):
        while select.select([client], [], [], 0)[0]:
            replies.append(client.recv(100))
        if len(replies) >= count:
            break
        loop.call_later(0.01, lambda: None)
        loop.run_once()
    return replies


def echo_on_a_loop(loop: EventLoop) -> list[bytes]:
    server, client = _udp_pair()
    with server, client:
        transport = DatagramTransport(loop, server, Echo())
        transport.set_reading(True)
        for data in (b"bug", b"ping", b"pong"):
            client.sendto(data, server.getsockname())
        return _replies(loop, client, 2)


def echo_without_a_loop(loop: EventLoop) -> list[bytes]:
    """A worker thread or child answers one datagram on the shared socket."""
    server, client = _udp_pair()
    with server, client:
        DatagramTransport(None, server, Echo()).receive(b"ping", client.getsockname())
        return [client.recv(100)]


def replies_queue_while_the_peer_is_full(loop: EventLoop) -> list[bytes]:
    """A Unix datagram receiver holds few datagrams (net.unix.max_dgram_qlen, 10 by default):
    40 replies sent at once all arrive, in order, only if the rest waited in the queue."""
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        server, client = (socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) for _ in range(2))
        with server, client:
            server.bind(os.path.join(tmp, "s"))
            client.bind(os.path.join(tmp, "c"))
            server.setblocking(False)
            transport = DatagramTransport(loop, server, Echo())
            for n in range(40):
                transport.sendto(b"%d" % n, client.getsockname())
            return _replies(loop, client, 40)


DATAGRAM_CASES = {
    echo_on_a_loop: [b"ping", b"pong"],
    echo_without_a_loop: [b"ping"],
    replies_queue_while_the_peer_is_full: [b"%d" % n for n in range(40)],
}


@pytest.mark.parametrize("case", DATAGRAM_CASES, ids=lambda case: case.__name__)
def test_datagram_transport(case, caplog):
    loop = EventLoop()
    try:
        assert case(loop) == DATAGRAM_CASES[case]
    finally:
        loop.close()
    if case is echo_on_a_loop:
        assert "datagram protocol error" in caplog.text
