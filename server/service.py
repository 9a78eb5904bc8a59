"""What a model serves, as the model sees it: requests in, nothing about protocols.

A request is what `socketserver` calls one: a connected socket for streams, a
`(data, socket)` pair for datagrams. A model either attaches requests to an event loop it runs
(`attach`) or hands each to a thread or process that serves it to the end (`handle`).

Two services exist: `ProtocolService` runs our sans-IO protocols (echo, HTTP, FTP) and can do
both; `SocketServerService` runs a user's `socketserver.BaseRequestHandler`, which blocks, so
only models that give it a thread or process of its own can run it.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from typing import Any

from .config import Settings
from .errors import ModelUnavailable
from .net.datagram_transport import DatagramTransport
from .net.loop import EventLoop
from .net.pollers import PollPoller
from .net.protocol import DatagramProtocol, Protocol
from .net.proxy_gate import ProxyHeaderGate, ProxyPolicy
from .net.stream_transport import StreamTransport
from .net.tls import Certificate, TlsHandshakeGate, TlsPolicy
from .net.trusted import TrustedPeers

#: How long a PROXY header may take when --timeout is 0 (no idle timeout).
PROXY_HEADER_TIMEOUT = 30.0

log = logging.getLogger(__name__)


class InFlight:
    """A request being served, possibly on another thread: drain or abort it from the model.

    Whoever serves the request binds the two actions; a call made before that is remembered.
    """

    def __init__(self, request: Any = None, addr: Any = None):
        self.request = request
        self.addr = addr
        self._lock = threading.Lock()
        self._actions: dict[str, Callable[[], None]] = {}
        self._requested: list[str] = []

    def bind(self, drain: Callable[[], None], abort: Callable[[], None]) -> None:
        with self._lock:
            self._actions = {"drain": drain, "abort": abort}
            requested, self._requested = self._requested, []
        for action in requested:
            self._actions[action]()

    def drain(self) -> None:
        """Ask the request to finish what is in flight and close."""
        self._request("drain")

    def abort(self) -> None:
        """Close the request now."""
        self._request("abort")

    def _request(self, action: str) -> None:
        with self._lock:
            if not self._actions:
                self._requested.append(action)
                return
        self._actions[action]()


def proxy_policy(settings: Settings) -> ProxyPolicy | None:
    """What `--proxy-protocol` asks of stream connections; None when it is off."""
    if not settings.proxy_protocol:
        return None
    timeout = settings.timeout or PROXY_HEADER_TIMEOUT
    return ProxyPolicy(TrustedPeers(settings.forwarded_allow_ips), timeout)


def tls_policy(
    settings: Settings, handshake_timeout: float, implicit: bool = True
) -> TlsPolicy | None:
    """What `--certfile`/`--keyfile` ask of stream connections; None without them. A missing
    or bad file, or a key that does not match, is a ConfigError now, at start."""
    if not settings.certfile:
        return None
    certificate = Certificate(settings.certfile, settings.keyfile)
    return TlsPolicy(certificate, handshake_timeout, implicit)


class Service:
    """Base: what every service offers a model. Subclasses say what they can do."""

    name = "service"
    #: False: requests must be served on their own thread or process (blocking handlers).
    event_driven = True
    #: Set when stream connections start with a PROXY header (`--proxy-protocol`).
    proxy: ProxyPolicy | None = None

    def attach(self, loop: EventLoop, request: Any, addr: Any, on_close: Callable) -> Any:
        """Start serving `request` on `loop`; return an object with drain() and abort()."""
        raise ModelUnavailable(f"{self.name} blocks, so it needs a thread or process per request")

    def datagram_protocol(self) -> DatagramProtocol | None:
        """The one protocol object that answers datagrams on an event loop, if any."""
        return None

    def handle(self, request: Any, addr: Any, flight: InFlight) -> None:
        """Serve one request to the end on the calling thread (which may block)."""
        raise NotImplementedError

    def reload(self) -> None:
        """SIGHUP: reload what can be reloaded without a restart. May be overridden."""

    def worker_started(self, fresh_code: bool = False) -> None:
        """Runs in each new worker process after fork, before it serves; `fresh_code` after a
        HUP: load the application's code from disk again (an error stops this worker, and the
        master keeps the old ones). May be overridden."""

    def count_requests(self, served: Callable[[], None]) -> bool:
        """Call `served()` after each request (health checks excluded); False when this
        service cannot tell requests from connections (the model then counts connections).
        May be overridden."""
        return False


class ProtocolService(Service):
    """Serves a stream and/or datagram protocol; the protocol never sees the model. `stream`
    makes a connection's protocol, given the loop it runs on (the protocol's Scheduler; FTP
    also opens its data connections there)."""

    def __init__(
        self,
        name: str,
        stream: Callable[[EventLoop], Protocol] | None = None,
        datagram: Callable[[], DatagramProtocol] | None = None,
        idle_timeout: float | None = None,
        proxy: ProxyPolicy | None = None,
        tls: TlsPolicy | None = None,
    ):
        self.name = name
        self.tls = tls
        self._stream = stream
        self._datagram = datagram
        self._idle_timeout = idle_timeout
        self.proxy = proxy
        self._datagram_protocol: DatagramProtocol | None = None

    def attach(self, loop, request, addr, on_close):
        protocol = self._stream(loop)
        tcp_options = protocol.tcp_options  # the protocol's own, not a gate's in front of it
        if self.tls is not None and self.tls.implicit:  # under the PROXY gate: in clear
            protocol = TlsHandshakeGate(protocol, self.tls.certificate, self.tls.handshake_timeout)
        if self.proxy is not None:  # the gate hands the connection over once it knows the client
            protocol = ProxyHeaderGate(protocol, self.proxy)
        transport = StreamTransport(
            loop,
            request,
            protocol,
            idle_timeout=self._idle_timeout,
            on_close=on_close,
            peer=addr,
            tcp_options=tcp_options,
        )
        transport.start()
        return transport

    def handle(self, request, addr, flight):
        if isinstance(request, tuple):  # (data, socket): answer on the shared socket
            data, sock = request
            DatagramTransport(None, sock, self.datagram_protocol()).receive(data, addr)
            return
        # A private loop per connection: the protocol may open more sockets (FTP data
        # channels) and needs timers, exactly as it would on a shared loop.
        loop = EventLoop(PollPoller)
        try:
            transport = self.attach(loop, request, addr, on_close=None)
            flight.bind(
                lambda: loop.call_soon_threadsafe(transport.drain),
                lambda: loop.call_soon_threadsafe(transport.abort),
            )
            loop.run(until=lambda: transport.closed)
        finally:
            loop.close()

    def reload(self) -> None:
        """HUP: new handshakes use the certificate on disk now (a bad file keeps the old)."""
        if self.tls is not None:
            self.tls.certificate.reload()

    def worker_started(self, fresh_code: bool = False) -> None:
        if fresh_code:  # a worker a HUP started: it was forked with the old certificate
            self.reload()

    def datagram_protocol(self) -> DatagramProtocol | None:
        if self._datagram_protocol is None and self._datagram:
            self._datagram_protocol = self._datagram()
        return self._datagram_protocol


class SocketServerService(Service):
    """Runs a user's socketserver.BaseRequestHandler subclass, as socketserver would."""

    event_driven = False

    def __init__(self, handler_class: type, listener_sock: socket.socket, timeout: float | None):
        self.name = handler_class.__name__
        self.handler_class = handler_class
        self.timeout = timeout
        self.server = _ServerShim(listener_sock, handler_class)

    def handle(self, request, addr, flight):
        if isinstance(request, socket.socket):
            request.setblocking(True)
            request.settimeout(self.timeout)
            # Shutting the socket down wakes a handler blocked in recv(); it sees end of file.
            flight.bind(lambda: None, lambda: _shutdown(request))
        try:
            self.handler_class(request, addr, self.server)
        except Exception:
            log.exception("%s failed for %s", self.name, addr)


class _ServerShim:
    """The attributes socketserver handlers read from `self.server`."""

    def __init__(self, sock: socket.socket, handler_class: type):
        self.socket = sock
        self.server_address = sock.getsockname()
        self.RequestHandlerClass = handler_class
        self.timeout = None


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
