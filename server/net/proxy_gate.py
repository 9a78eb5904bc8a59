"""`--proxy-protocol`: every stream connection starts with a PROXY header, read here.

A `ProxyHeaderGate` is the protocol a connection starts with. It refuses a peer that is not a
trusted proxy (`--forwarded-allow-ips`) before reading anything, reads the header within a
bounded time, then hands the transport to the real protocol with `transport.peer` set to the
client the header named. The real protocol's `connection_made` therefore runs only once the
client is known: FTP claims its per-address slot and greets, HTTP logs, with the real client.

As nginx and HAProxy do, the header is required, never sniffed: a connection without one, with
a damaged one, or from an untrusted peer is closed with one warning and counted in
`server_proxy_headers_refused_total{reason}`. Serving it anyway would let anyone who can reach
a replica directly claim any address, or make the proxy's address every client's again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..metrics import METRICS
from .address import describe_peer
from .loop import Timer
from .protocol import Protocol
from .proxy import ProxyHeaderError, ProxyHeaderReader
from .stream_transport import StreamTransport
from .trusted import TrustedPeers

log = logging.getLogger("server.proxy")

REFUSED = "server_proxy_headers_refused_total"
METRICS.counter(
    REFUSED,
    "Connections closed for their PROXY header: untrusted peer, malformed or missing, too slow.",
    "reason",
    ("untrusted", "malformed", "timeout"),
)


@dataclass(frozen=True)
class ProxyPolicy:
    """Who may send a header, and how long the header may take to arrive."""

    trusted: TrustedPeers
    timeout: float


#: Given the client a header named, the reason to refuse it, or None to let it in.
Admit = Callable[[Any], "str | None"]


class ProxyHeaderGate(Protocol):
    """Reads the header, then hands the connection to `inner` (see the module docstring)."""

    def __init__(self, inner: Protocol, policy: ProxyPolicy, admit: Admit | None = None):
        self.inner = inner
        self.policy = policy
        self.admit = admit
        self._reader = ProxyHeaderReader()
        self._deadline: Timer | None = None

    def connection_made(self, transport: StreamTransport) -> None:
        self.transport = transport
        if not self.policy.trusted.trusts_peer(transport.peer):
            self._refuse("untrusted", "not in --forwarded-allow-ips")
            return
        self._deadline = transport.loop.call_later(self.policy.timeout, self._deadline_passed)

    def data_received(self, data: bytes) -> None:
        try:
            header = self._reader.feed(data)
        except ProxyHeaderError as exc:
            self._refuse("malformed", str(exc))
            return
        if header is None:
            return
        self._stop_deadline()
        client = self.transport.peer if header.source is None else header.source
        refusal = self.admit(client) if self.admit else None
        if refusal:
            log.warning(
                "refused %s (PROXY header from %s): %s",
                describe_peer(client),
                describe_peer(self.transport.peer),
                refusal,
            )
            self.transport.abort()
            return
        self.transport.hand_over(self.inner, client, header.rest)

    def eof_received(self) -> bool:
        self._refuse("malformed", "closed before a complete PROXY header")
        return False

    def idle_timeout(self) -> None:
        self._stop_deadline()
        self._refuse("timeout", f"no complete PROXY header within {self.policy.timeout:g}s")

    def _deadline_passed(self) -> None:
        self._deadline = None  # fired: nothing to cancel
        self.idle_timeout()

    def drain_requested(self) -> None:
        self.transport.abort()  # nothing in flight yet

    def connection_lost(self, exc: BaseException | None) -> None:
        self._stop_deadline()

    def _refuse(self, reason: str, why: str) -> None:
        if self.transport.closing:
            return
        log.warning("closed a connection from %s: %s", describe_peer(self.transport.peer), why)
        METRICS.add(REFUSED, 1, reason)
        self.transport.abort()

    def _stop_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
