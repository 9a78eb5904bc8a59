"""Data connections, driven by the control connection's loop -- never waited for by blocking.

A `PassiveChannel` listens (PASV/EPSV) and takes one connection, from the client's address
only; an `ActiveChannel` connects (PORT/EPRT) when a transfer asks for it. The sockets are
`net/links.py`'s; a channel decides which port range, which peer, how long to wait and what to
reply. Either way the connected socket becomes a `StreamTransport` whose `DataConnection`
protocol forwards events to the transfer using it. A channel serves one transfer, then is
closed.
"""

from __future__ import annotations

import logging
import socket

from ...net.links import Links, NoFreePort
from ...net.protocol import Cancellable, Protocol, Scheduler
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

    def __init__(self, scheduler: Scheduler, links: Links, timeout: float):
        self.scheduler = scheduler
        self.links = links
        self.timeout = timeout
        self.transport: StreamTransport | None = None
        self.transfer = None  # the Transfer waiting for or using this connection
        self.opening = None  # the PortListener or Connector, until the connection is made
        self.closed = False
        self._timer: Cancellable | None = None

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
        try:
            return self.links.serve(sock, protocol or DataConnection(self), self.timeout, addr)
        except OSError as exc:  # e.g. select() cannot watch a descriptor this high
            self.fail(425, f"Cannot open data connection: {exc}.")
            return None

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
        self._timer = self.scheduler.call_later(self.timeout, self._timed_out)

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
        self.stop_opening()
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

    def stop_opening(self) -> None:
        """Release the listening or connecting socket, if any."""
        if self.opening is not None:
            self.opening.close()
            self.opening = None


class PassiveChannel(DataChannel):
    """Listens on one port of `ports` and takes one connection from the client's address.

    Behind a proxy (`proxy` set) every connection starts with a PROXY header, and the client
    it names is what must match: the connection's own peer is the proxy. Connections whose
    header is still on its way are kept in `_unproven`, so closing the channel closes them.
    """

    def __init__(
        self,
        scheduler: Scheduler,
        links: Links,
        timeout: float,
        where: tuple[str, range | None],
        peer_host: str,
        proxy: ProxyPolicy | None = None,
    ):
        super().__init__(scheduler, links, timeout)
        try:
            self.opening = links.listen(*where, self._accepted)
        except NoFreePort:
            raise FTPReply(425, "No passive port free; try again later.") from None
        except OSError as exc:
            raise FTPReply(425, f"Cannot open passive port: {exc.strerror or exc}.") from None
        self.port = self.opening.port
        self.peer_host = plain_ip(peer_host)
        self.proxy = proxy
        self._unproven: list[StreamTransport] = []
        self.arm_timer()

    def _accepted(self, conn: socket.socket, addr) -> None:
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
        if self.opening is None:
            return "the data connection is made already"
        self.stop_opening()
        return None

    def close(self, abort: bool = False) -> None:
        for transport in self._unproven:
            if transport is not self.transport:
                transport.abort()
        self._unproven = []
        super().close(abort)


class ActiveChannel(DataChannel):
    """Connects to the address a PORT/EPRT named, once a transfer asks for it, from the
    control connection's side (`local`, its address)."""

    def __init__(
        self,
        scheduler: Scheduler,
        links: Links,
        timeout: float,
        local: str,
        target: tuple[str, int],
    ):
        super().__init__(scheduler, links, timeout)
        self.local = local
        self.target = target

    def connect(self) -> None:
        if self.opening is not None:
            return
        connector = self.links.connect(self.local, self.target, self._made, self._refused)
        if not self.closed:  # not refused at once
            self.opening = connector
            self.arm_timer()

    def _made(self, sock: socket.socket, addr) -> None:
        self.opening = None
        self.connected(sock, addr)

    def _refused(self, reason: str) -> None:
        self.opening = None
        self.fail(425, f"Cannot open data connection: {reason}.")
