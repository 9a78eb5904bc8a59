"""Echo (RFC 862): every byte or datagram received is sent back unchanged."""

from __future__ import annotations

import logging

from ..metrics import METRICS
from ..net.address import describe_peer
from ..net.protocol import DatagramProtocol, Protocol

log = logging.getLogger("server.echo")

# Connections are the model's server_connections_total and _open; these are echo's own.
METRICS.counter(
    "echo_bytes_total", "Bytes echoed back, by transport.", "transport", ("stream", "datagram")
)
METRICS.counter("echo_datagrams_total", "Datagrams echoed back.")
_STREAM_BYTES = METRICS.place("echo_bytes_total", "stream")
_DATAGRAM_BYTES = METRICS.place("echo_bytes_total", "datagram")
_DATAGRAMS = METRICS.place("echo_datagrams_total")


class EchoProtocol(Protocol):
    """Stream echo with backpressure: a client that does not read stops being read."""

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        # debug: one line per connection would cost a busy echo server more than the echo
        log.debug("connection from %s", describe_peer(transport.peer))

    def data_received(self, data: bytes) -> None:
        METRICS.add_at(_STREAM_BYTES, len(data))
        self.transport.write(data)
        if self.transport.pending():  # the client is not keeping up: stop reading until it does
            self.transport.pause_reading()
            self.transport.when_sent(self._resume)

    def _resume(self, exc: BaseException | None) -> None:
        if exc is None:
            self.transport.resume_reading()

    def eof_received(self) -> bool:
        return False  # flush what is queued, then close


class EchoDatagramProtocol(DatagramProtocol):
    def datagram_received(self, data, addr, transport) -> None:
        METRICS.add_at(_DATAGRAMS, 1, _DATAGRAM_BYTES, len(data))
        transport.sendto(data, addr)
