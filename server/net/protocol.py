"""The contract between transports and protocols (asyncio-style, sans-IO on the protocol side).

A protocol never touches a socket: it receives bytes through callbacks and answers through its
transport (`write`, `send_file`, `send_producer`, `close`). Timers and blocking work go through
the `Scheduler` its factory is given (the connection's loop), never through the transport. The
same protocol object therefore runs under every model, on whichever event loop the model gives
its connection, and its unit tests need a clock and a recorded sink, nothing more.
"""

from __future__ import annotations

import socket
import typing
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .datagram_transport import DatagramTransport
    from .executor import Executor
    from .stream_transport import StreamTransport


class Cancellable(typing.Protocol):
    def cancel(self) -> None: ...


class Scheduler(typing.Protocol):
    """What a protocol may ask of the loop it runs on. `EventLoop` is one; a unit test gives a
    clock it moves by hand."""

    executor: Executor  # where blocking (application) work runs: inline, or a pool
    now: float  # time() when the loop last woke: when what it is handling now arrived

    def time(self) -> float: ...  # the clock timers run on (monotonic)

    def call_soon(self, callback: Callable, *args: Any) -> None: ...

    def call_soon_threadsafe(self, callback: Callable, *args: Any) -> None: ...

    def call_later(self, delay: float, callback: Callable, *args: Any) -> Cancellable: ...


#: A socket option a protocol asks its TCP connections for: (level, option, value).
SocketOption = tuple[int, int, int]
#: Small writes leave at once: Nagle would hold them until the peer's (delayed) ACK.
NO_DELAY: SocketOption = (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
#: Urgent (out-of-band) bytes stay in the stream, in order, instead of being lost.
URGENT_INLINE: SocketOption = (socket.SOL_SOCKET, socket.SO_OOBINLINE, 1)


class Protocol:
    """A stream (TCP or Unix) protocol. Override what you need; the defaults are safe."""

    #: Set on each TCP connection (not Unix ones) before connection_made, by the service
    #: that serves the protocol: the protocol declares them and never touches the socket.
    tcp_options: tuple[SocketOption, ...] = ()
    transport: StreamTransport

    def connection_made(self, transport: StreamTransport) -> None:
        """Called once, before any data. May be extended."""
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        """Bytes arrived from the peer."""

    def eof_received(self) -> bool:
        """The peer will send no more. Return True to keep writing; False closes (default)."""
        return False

    def idle_timeout(self) -> None:
        """Nothing moved for the idle timeout. Default: drop the connection."""
        self.transport.abort()

    def drain_requested(self) -> None:
        """The server is shutting down gracefully: finish what is in flight, then close.

        The default keeps serving until the peer closes or the graceful timeout ends it.
        """

    def connection_lost(self, exc: BaseException | None) -> None:
        """Called once when the connection is closed for any reason."""


class DatagramProtocol:
    """A datagram (UDP or Unix datagram) protocol; one instance serves every peer."""

    def datagram_received(self, data: bytes, addr: Any, transport: DatagramTransport) -> None:
        """One datagram arrived from `addr`; answer with `transport.sendto(reply, addr)`."""
