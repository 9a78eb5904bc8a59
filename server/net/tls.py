"""TLS (`--certfile`, `--keyfile`) with the standard library's `ssl`, under every model.

The TLS state machine runs on memory buffers (`ssl.MemoryBIO` + `SSLObject`), not on an
`SSLSocket`: the transport keeps reading and writing its plain non-blocking socket, so the same
code serves the event-loop models and the thread/fork ones (each runs a private loop), and
bytes a PROXY header gate read past its header are simply the first bytes fed to TLS.

- `Certificate` loads the pair into an `SSLContext`; HUP loads it again (`reload`), and a bad
  file then costs a logged error, never the certificate being served.
- `TlsChannel` is what a transport reads and writes through once TLS has started: it mimics a
  non-blocking socket (`BlockingIOError` when nothing can move) and finishes the handshake on
  the way, calling `on_ready` once.
- `Handshake` bounds one handshake by a deadline (a stalled client costs a socket, never a
  worker). `TlsHandshakeGate` is the protocol a connection starts with (HTTPS, implicit FTPS):
  it runs a `Handshake`, then hands the connection to the real protocol. FTP starts TLS later,
  on a connection already in use (AUTH TLS, protected data connections), with `Handshake` too.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from .address import describe_peer
from .loop import Timer
from .protocol import Protocol

log = logging.getLogger("server.tls")

RECV_SIZE = 65536
#: Most plaintext encrypted per send: four full TLS records, so little waits behind a full socket.
SEND_SIZE = 4 * 16384


class Certificate:
    """A certificate chain and its key, as the server-side context new handshakes use."""

    def __init__(self, certfile: str, keyfile: str):
        self.certfile = certfile
        self.keyfile = keyfile
        self.context = self._load()

    def _load(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        for flag, path in (("--certfile", self.certfile), ("--keyfile", self.keyfile)):
            try:
                with open(path, "rb"):
                    pass
            except OSError as exc:
                raise ConfigError(f"{flag} {path}: {exc.strerror}") from None
        try:
            context.load_cert_chain(self.certfile, self.keyfile)
        except ssl.SSLError as exc:
            raise ConfigError(
                f"--certfile {self.certfile} / --keyfile {self.keyfile}: "
                f"not a certificate and its matching key ({exc.reason or exc})"
            ) from None
        return context

    def reload(self) -> None:
        """HUP: load the files again; new handshakes use them. A bad file keeps the old pair."""
        try:
            self.context = self._load()
        except ConfigError as exc:
            log.error("TLS certificate not reloaded, keeping the previous one: %s", exc)
            return
        log.info("TLS certificate reloaded from %s", self.certfile)


@dataclass(frozen=True)
class TlsPolicy:
    """What `--certfile` asks of stream connections: this certificate, a bounded handshake.
    `implicit`: every connection starts with the handshake; otherwise the protocol starts TLS
    when its client asks (FTP's AUTH TLS)."""

    certificate: Certificate
    handshake_timeout: float
    implicit: bool = True


#: Held while a context's ticket count is changed for one connection (thread models share it).
_WRAPPING = threading.Lock()


def _wrap(
    context: ssl.SSLContext, incoming: ssl.MemoryBIO, outgoing: ssl.MemoryBIO, tickets: bool
) -> ssl.SSLObject:
    """A server-side TLS object on `context`; without `tickets`, one that issues no TLS 1.3
    session tickets yet still resumes sessions the context's tickets started. OpenSSL copies
    the context's ticket count into each connection when it is made, hence the brief change.

    Why: a client that only sends (an FTP upload: curl) never reads the tickets; closing its
    socket with them unread makes its kernel send RST and drop what it had not sent yet."""
    with _WRAPPING:
        if tickets:
            return context.wrap_bio(incoming, outgoing, server_side=True)
        issued, context.num_tickets = context.num_tickets, 0
        try:
            return context.wrap_bio(incoming, outgoing, server_side=True)
        finally:
            context.num_tickets = issued


class TlsChannel:
    """TLS over a non-blocking socket, with the socket calls a transport makes."""

    def __init__(
        self,
        context: ssl.SSLContext,
        sock: socket.socket,
        on_ready: Callable[[], None],
        tickets: bool = True,
    ):
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self._tls = _wrap(context, self._in, self._out, tickets)
        self._sock = sock
        self._cipher = b""  # encrypted bytes the socket has not taken yet
        self._on_ready: Callable[[], None] | None = on_ready
        self._eof = False

    def feed(self, data: bytes) -> None:
        """Bytes read off the socket by someone else (a PROXY gate): the start of TLS."""
        if data:
            self._in.write(data)

    def recv(self, size: int = RECV_SIZE) -> bytes:
        """Plaintext, b"" at the end; BlockingIOError when no whole record has arrived.
        Every whole record read is decrypted now: bytes left in the buffers never wake a poller.
        """
        try:
            raw = self._sock.recv(size)
        except BlockingIOError:  # nothing new: what was fed earlier may still be whole records
            raw = None
        if raw:
            self._in.write(raw)
        elif raw is not None and not self._eof:
            self._eof = True
            self._in.write_eof()
        if self._on_ready is not None and not self._handshake():
            raise BlockingIOError
        chunks = []
        while True:
            try:
                chunk = self._tls.read(size)
            except ssl.SSLWantReadError:
                break
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                self._eof = True
                break
            if not chunk:
                self._eof = True
                break
            chunks.append(chunk)
        self.flush()  # a read may owe the peer bytes (TLS 1.3 tickets, key updates)
        if chunks:
            return b"".join(chunks)
        if self._eof:
            return b""
        raise BlockingIOError

    def send(self, data) -> int:
        """Encrypt up to SEND_SIZE bytes; BlockingIOError while earlier ones wait for room."""
        if not self.flush():
            raise BlockingIOError
        taken = self._tls.write(memoryview(data)[:SEND_SIZE])
        self.flush()
        return taken

    def flush(self) -> bool:
        """Move encrypted bytes to the socket; True when none are left waiting."""
        self._cipher += self._out.read()
        while self._cipher:
            try:
                sent = self._sock.send(self._cipher)
            except BlockingIOError:
                return False
            self._cipher = self._cipher[sent:]
        return True

    @property
    def resumed(self) -> bool:
        """The handshake resumed an earlier session (FTP: the control connection's)."""
        return self._tls.session_reused

    @property
    def ended(self) -> bool:
        """The peer's close_notify (or FIN) has been read; recv returns b"" once the
        plaintext before it is taken."""
        return self._eof

    def pending(self) -> bool:
        """True while encrypted bytes wait for room in the socket."""
        return bool(self._cipher) or self._out.pending > 0

    def close_notify(self) -> None:
        """Queue our close_notify alert (best effort: the socket shuts down next)."""
        if self._on_ready is None:
            try:
                self._tls.unwrap()
            except ssl.SSLError:
                pass  # SSLWantRead: the peer's alert is not awaited
        self.flush()

    def _handshake(self) -> bool:
        try:
            self._tls.do_handshake()
        except ssl.SSLWantReadError:
            self.flush()
            return False
        except ssl.SSLError:
            self.flush()  # the alert that tells the client why
            raise
        self.flush()
        on_ready, self._on_ready = self._on_ready, None
        on_ready()
        return True


class Handshake:
    """One TLS handshake on a transport, bounded in time: `on_ready()` once it is done; past
    `timeout` seconds, a warning naming the peer and an abort. Whoever waits for it (a gate at
    the start of a connection, FTP's AUTH TLS and its data connections) uses this one bound."""

    def __init__(
        self,
        transport: Any,
        context: ssl.SSLContext,
        timeout: float,
        on_ready: Callable[[], None],
        early: bytes = b"",
        tickets: bool = True,
    ):
        self.transport = transport
        self.timeout = timeout
        self._on_ready = on_ready
        self._deadline: Timer | None = transport.loop.call_later(timeout, self.give_up)
        transport.start_tls(context, self._ready, early, tickets)
        transport.resume_reading()  # the handshake reads, even where the protocol had paused

    def _ready(self) -> None:
        self.cancel()
        self._on_ready()

    def give_up(self) -> None:
        """Too slow: close the connection, with a log line."""
        self.cancel()
        if not self.transport.closing:
            why = f"no TLS handshake within {self.timeout:g}s"
            log.warning("closed a connection from %s: %s", describe_peer(self.transport.peer), why)
            self.transport.abort()

    def cancel(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None


class TlsHandshakeGate(Protocol):
    """Starts TLS, then hands the connection to `inner`; a handshake slower than `timeout`
    seconds is closed with a log line."""

    def __init__(self, inner: Protocol, certificate: Certificate, timeout: float):
        self.inner = inner
        self.certificate = certificate
        self.timeout = timeout
        self._handshake: Handshake | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self._handshake = Handshake(transport, self.certificate.context, self.timeout, self._ready)

    def _ready(self) -> None:
        self.transport.hand_over(self.inner, self.transport.peer)

    def data_received(self, data: bytes) -> None:
        """Never called: the transport delivers plaintext only after the handshake."""

    def idle_timeout(self) -> None:
        self._handshake.give_up()

    def drain_requested(self) -> None:
        self.transport.abort()  # nothing in flight yet

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._handshake is not None:
            self._handshake.cancel()
