"""Connections a protocol opens besides the one it serves (FTP's data connections).

A protocol asks its `Links` for a listener on a port of a range, or for an outgoing connect;
the sockets, binds, accepts and non-blocking connects happen here, on the loop, never in the
protocol. The protocol keeps every decision: which range, which peer to take, how long to wait
and what to answer when it fails. A connected socket becomes a `StreamTransport` running the
protocol the caller names (`Links.serve`).
"""

from __future__ import annotations

import errno
import os
import random
import socket
from collections.abc import Callable, Iterator

from .loop import EventLoop
from .pollers import READ, WRITE
from .protocol import Protocol
from .stream_transport import StreamTransport

Accepted = Callable[[socket.socket, tuple], None]


class NoFreePort(OSError):
    """Every port of the range is taken."""


class PortListener:
    """Listens on one port and offers every connection to `accepted(sock, addr)`."""

    def __init__(self, loop: EventLoop, sock: socket.socket, accepted: Accepted):
        self.loop = loop
        self.sock = sock
        self.port: int = sock.getsockname()[1]
        self.accepted = accepted
        try:
            loop.set_interest(sock.fileno(), self, READ)
        except OSError:  # e.g. select() cannot watch a descriptor this high
            sock.close()
            raise

    def on_readable(self) -> None:
        try:
            conn, addr = self.sock.accept()
        except OSError:  # the peer gave up between SYN and accept; keep listening
            return
        self.accepted(conn, addr)

    def on_writable(self) -> None:
        pass

    def close(self) -> None:
        if self.sock.fileno() >= 0:
            self.loop.forget(self.sock.fileno())
            self.sock.close()


class Connector:
    """A non-blocking connect: `connected(sock, target)` once made, `failed(reason)` if not."""

    def __init__(
        self, loop: EventLoop, family: int, target: tuple, connected: Accepted, failed: Callable
    ):
        self.loop = loop
        self.target = target
        self.connected = connected
        self.failed = failed
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setblocking(False)

    def start(self) -> None:
        code = self.sock.connect_ex(self.target)
        if code not in (0, errno.EINPROGRESS):
            self._fail(os.strerror(code))
            return
        try:
            self.loop.set_interest(self.sock.fileno(), self, WRITE)
        except OSError as exc:  # e.g. select() cannot watch a descriptor this high
            self._fail(str(exc))

    def on_writable(self) -> None:
        code = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            self._fail(os.strerror(code))
            return
        self.loop.forget(self.sock.fileno())
        sock, self.sock = self.sock, None
        self.connected(sock, self.target)

    def on_readable(self) -> None:
        pass

    def _fail(self, reason: str) -> None:
        self.close()
        self.failed(reason)

    def close(self) -> None:
        """Give up (a no-op once connected: the socket is the caller's then)."""
        if self.sock is not None:
            self.loop.forget(self.sock.fileno())
            self.sock.close()
            self.sock = None


class Links:
    """What a protocol may open on its connection's loop."""

    def __init__(self, loop: EventLoop):
        self.loop = loop

    def listen(self, host: str, ports: range | None, accepted: Accepted) -> PortListener:
        """A listener on `host`, on a free port of `ports` (any port when None). Raises
        NoFreePort, or OSError when the socket cannot be made or watched."""
        return PortListener(self.loop, _listening_socket(host, ports), accepted)

    def connect(
        self, local: str, target: tuple[str, int], connected: Accepted, failed: Callable
    ) -> Connector:
        """Connect to `target` from the side of a socket bound to `local` (its family; an
        IPv4 target from a dual-stack IPv6 socket is reached mapped)."""
        host, port = target
        family = socket.AF_INET6 if ":" in local else socket.AF_INET
        if family == socket.AF_INET6 and ":" not in host:
            host = f"::ffff:{host}"
        connector = Connector(self.loop, family, (host, port), connected, failed)
        connector.start()
        return connector

    def serve(
        self, sock: socket.socket, protocol: Protocol, idle_timeout: float, peer
    ) -> StreamTransport:
        """Run `protocol` on a connected socket; OSError (the socket closed) if the loop
        cannot watch it."""
        transport = StreamTransport(self.loop, sock, protocol, idle_timeout=idle_timeout, peer=peer)
        try:
            transport.start()
        except OSError:  # e.g. select() cannot watch a descriptor this high
            sock.close()
            raise
        return transport


def _listening_socket(host: str, ports: range | None) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for port in _candidates(ports):
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            # Reuse ports whose old data connections sit in TIME_WAIT (we close those first).
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(1)
            sock.setblocking(False)
            return sock
        except OSError as exc:
            sock.close()
            if exc.errno not in (errno.EADDRINUSE, errno.EACCES):
                raise
    raise NoFreePort("no port of the range is free")


def _candidates(ports: range | None) -> Iterator[int]:
    """Every port of the range once, from a random start (spreads sessions); lazily, since
    the first is nearly always free and a range may hold thousands."""
    if not ports:
        yield 0
        return
    start = random.randrange(len(ports))
    yield from ports[start:]
    yield from ports[:start]
