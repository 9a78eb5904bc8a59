"""Data connections, driven by the control connection's loop -- never waited for by blocking.

A `PassiveChannel` listens (PASV/EPSV) and accepts one connection, from the client's address
only; an `ActiveChannel` connects (PORT/EPRT) when a transfer asks for it. Either way the
connected socket becomes a `StreamTransport` whose `DataConnection` protocol forwards events to
the transfer using it. A channel serves one transfer, then is closed.
"""

from __future__ import annotations

import errno
import logging
import os
import random
import socket
from collections.abc import Iterator

from ...net.loop import EventLoop, Timer
from ...net.pollers import READ, WRITE
from ...net.protocol import Protocol
from ...net.proxy_gate import ProxyHeaderGate, ProxyPolicy
from ...net.stream_transport import StreamTransport
from .addressing import plain_ip
from .replies import FTPReply

log = logging.getLogger("server.ftp")


class DataConnection(Protocol):
    """The data socket's protocol; reads only while an upload wants bytes."""

    def __init__(self, channel: DataChannel):
        self.channel = channel

    def connection_made(self, transport: StreamTransport) -> None:
        super().connection_made(transport)
        transport.pause_reading()
        self.channel.opened(transport)

    def data_received(self, data: bytes) -> None:
        self.channel.transfer.data_received(data)

    def eof_received(self) -> bool:
        self.channel.transfer.eof_received()
        return True  # the transfer closes it when it has answered

    def idle_timeout(self) -> None:
        self.channel.fail(426, "Data connection timed out; transfer aborted.")

    def connection_lost(self, exc: BaseException | None) -> None:
        self.channel.connection_lost(exc)


class DataChannel:
    """One data connection for one transfer; subclasses say how it is made."""

    def __init__(self, loop: EventLoop, timeout: float):
        self.loop = loop
        self.timeout = timeout
        self.transport: StreamTransport | None = None
        self.transfer = None  # the Transfer waiting for or using this connection
        self.sock: socket.socket | None = None  # listening (passive) or connecting (active)
        self.closed = False
        self._timer: Timer | None = None

    def attach(self, transfer) -> None:
        """A transfer wants the connection: it gets `ready(transport)` or `finish(code, ...)`."""
        self.transfer = transfer
        if self.closed:
            transfer.finish(425, "Data connection closed; send PASV, EPSV, PORT or EPRT again.")
        elif self.transport is not None:
            transfer.ready(self.transport)
        else:
            self.connect()

    def connect(self) -> None:
        """Start making the connection (active), or keep waiting for it (passive)."""

    def connected(
        self, sock: socket.socket, addr, protocol: Protocol | None = None
    ) -> StreamTransport | None:
        """Serve a connected socket with a DataConnection, or with `protocol` that hands it
        to one (a PROXY header gate); the DataConnection calls `opened`."""
        transport = StreamTransport(
            self.loop, sock, protocol or DataConnection(self), idle_timeout=self.timeout, peer=addr
        )
        try:
            transport.start()
        except OSError as exc:  # e.g. select() cannot watch a descriptor this high
            sock.close()
            self.fail(425, f"Cannot open data connection: {exc}.")
            return None
        return transport

    def opened(self, transport: StreamTransport) -> None:
        """The data connection is made: it is the transfer's, now or when one attaches."""
        self._cancel_timer()
        self.transport = transport
        if self.transfer is not None and not self.closed:
            self.transfer.ready(transport)

    def fail(self, code: int, text: str) -> None:
        """The connection could not be made or broke: end the transfer, if any, with this."""
        transfer, self.transfer = self.transfer, None  # closing must not report a "lost"
        self.close(abort=True)
        if transfer is not None:
            transfer.finish(code, text)

    def connection_lost(self, exc: BaseException | None) -> None:
        if self.transfer is not None:
            self.transfer.connection_lost(exc)
        self.closed = True

    def arm_timer(self) -> None:
        self._timer = self.loop.call_later(self.timeout, self._timed_out)

    def _timed_out(self) -> None:
        self._timer = None
        self.fail(425, f"No data connection within {self.timeout:g}s.")

    def _cancel_timer(self) -> None:
        if self._timer:
            self._timer.cancel()
            self._timer = None

    def close(self, abort: bool = False) -> None:
        """Close for good: flush and FIN the data (or cut it, with `abort`)."""
        self.closed = True
        self._cancel_timer()
        self._close_socket()
        if not self.lingering:
            return
        if abort:
            self.transport.abort()
        else:
            self.transport.close()

    @property
    def lingering(self) -> bool:
        """True while the data socket is open (a finished transfer's waits for the peer's FIN)."""
        return self.transport is not None and not self.transport.closed

    def _close_socket(self) -> None:
        """Release the listening or connecting socket, if any."""
        if self.sock is not None:
            self.loop.forget(self.sock.fileno())
            self.sock.close()
            self.sock = None


class PassiveChannel(DataChannel):
    """Listens on one port and accepts one connection from the client's address.

    Behind a proxy (`proxy` set) every connection starts with a PROXY header, and the client
    it names is what must match: the connection's own peer is the proxy. Connections whose
    header is still on its way are kept in `_unproven`, so closing the channel closes them.
    """

    def __init__(
        self,
        loop: EventLoop,
        timeout: float,
        sock: socket.socket,
        peer_host: str,
        proxy: ProxyPolicy | None = None,
    ):
        super().__init__(loop, timeout)
        self.sock = sock
        self.port = sock.getsockname()[1]
        self.peer_host = plain_ip(peer_host)
        self.proxy = proxy
        self._unproven: list[StreamTransport] = []
        try:
            loop.set_interest(sock.fileno(), self, READ)
        except OSError as exc:  # e.g. select() cannot watch a descriptor this high
            self._close_socket()
            raise FTPReply(425, f"Cannot open passive port: {exc}.") from None
        self.arm_timer()

    def on_readable(self) -> None:
        try:
            conn, addr = self.sock.accept()
        except OSError:  # the peer gave up between SYN and accept; keep listening
            return
        if self.proxy is not None:
            gate = ProxyHeaderGate(DataConnection(self), self.proxy, admit=self._admit)
            self._unproven = [t for t in self._unproven if not t.closed]
            transport = self.connected(conn, addr, gate)
            if transport is not None:
                self._unproven.append(transport)
            return
        refusal = self._admit(addr)
        if refusal:
            log.warning("dropped a data connection from %s (%s)", addr[0], refusal)
            conn.close()
            return
        self.connected(conn, addr)

    def _admit(self, client) -> str | None:
        """None if the connection comes from the client (and then it is the one taken)."""
        host = client[0] if isinstance(client, tuple) else ""
        if plain_ip(host) != self.peer_host:
            return f"the client is {self.peer_host}"
        if self.sock is None:
            return "the data connection is made already"
        self._close_socket()
        return None

    def close(self, abort: bool = False) -> None:
        for transport in self._unproven:
            if transport is not self.transport:
                transport.abort()
        self._unproven = []
        super().close(abort)

    def on_writable(self) -> None:
        pass


class ActiveChannel(DataChannel):
    """Connects to the address a PORT/EPRT named, once a transfer asks for it."""

    def __init__(self, loop: EventLoop, timeout: float, family: int, target: tuple[str, int]):
        super().__init__(loop, timeout)
        self.family = family
        self.target = target

    def connect(self) -> None:
        if self.sock is not None:
            return
        self.sock = socket.socket(self.family, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        code = self.sock.connect_ex(self.target)
        if code not in (0, errno.EINPROGRESS):
            self.fail(425, f"Cannot open data connection: {os.strerror(code)}.")
            return
        try:
            self.loop.set_interest(self.sock.fileno(), self, WRITE)
        except OSError as exc:  # e.g. select() cannot watch a descriptor this high
            self.fail(425, f"Cannot open data connection: {exc}.")
            return
        self.arm_timer()

    def on_writable(self) -> None:
        code = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        self.loop.forget(self.sock.fileno())
        if code:
            self.fail(425, f"Cannot open data connection: {os.strerror(code)}.")
            return
        sock, self.sock = self.sock, None
        self.connected(sock, self.target)

    def on_readable(self) -> None:
        pass


def passive_socket(host: str, ports: range | None) -> socket.socket:
    """A listening socket on `host`, on a free port of `ports` (any port when None)."""
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
                raise FTPReply(425, f"Cannot open passive port: {exc.strerror}.") from None
    raise FTPReply(425, "No passive port free; try again later.")


def _candidates(ports: range | None) -> Iterator[int]:
    """Every port of the range once, from a random start (spreads sessions); lazily, since
    the first is nearly always free and a range may hold thousands."""
    if not ports:
        yield 0
        return
    start = random.randrange(len(ports))
    yield from ports[start:]
    yield from ports[:start]


def active_family(control_sock: socket.socket, host: str) -> tuple[int, str]:
    """The family and address to connect to `host` from the control connection's side."""
    if control_sock.family == socket.AF_INET6 and ":" not in host:
        return socket.AF_INET6, f"::ffff:{host}"  # a dual-stack listener: map IPv4
    return control_sock.family, host
