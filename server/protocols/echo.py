"""Echo (RFC 862): every byte or datagram received is sent back unchanged."""

from __future__ import annotations

import logging

from ..net.address import describe_peer
from ..net.protocol import DatagramProtocol, Protocol

log = logging.getLogger("server.echo")


class EchoProtocol(Protocol):
    """Stream echo with backpressure: a client that does not read stops being read."""

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        # debug: one line per connection would cost a busy echo server more than the echo
        log.debug("connection from %s", describe_peer(transport.peer))

    def data_received(self, data: bytes) -> None:
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
        transport.sendto(data, addr)
