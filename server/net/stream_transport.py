"""The stream transport: what a stream protocol writes to, driven by an EventLoop.

A `StreamTransport` owns one connected socket. Writes are tried at once and queued only when
the socket is full, so a small response costs one `send` and no poller change. The queue
(server/net/output_queue.py) also holds file ranges, producers and callbacks. After
`start_tls` every byte goes through a `TlsChannel` (server/net/tls.py) on the same socket,
and files are copied through it instead of sendfile'd.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from typing import Any

from .address import describe_peer, peername
from .loop import EventLoop, Timer
from .output_queue import Callback, Done, FileRange, OutputQueue, Producer, ProducerFailed
from .pollers import READ, WRITE
from .protocol import Protocol, SocketOption
from .sockets import set_tcp_options
from .tls import TlsChannel

log = logging.getLogger(__name__)

RECV_SIZE = 65536
LINGER = 2.0  # seconds to wait for the peer's FIN after ours (unread data would turn into RST)
_GONE = (ConnectionError, TimeoutError)


class StreamTransport:
    """One connected stream socket, its protocol and its outgoing queue."""

    def __init__(
        self,
        loop: EventLoop,
        sock: socket.socket,
        protocol: Protocol,
        *,
        idle_timeout: float | None = None,
        on_close: Callable[[StreamTransport], None] | None = None,
        peer: Any = None,
        tcp_options: tuple[SocketOption, ...] = (),
    ):
        self.loop = loop
        self.sock = sock
        self.protocol = protocol
        self.peer = peer if peer is not None else peername(sock)
        self.fd = sock.fileno()
        self.closed = False
        self.closing = False  # close() or abort() was called (true whenever `closed` is)
        self._on_close = on_close
        self._tcp_options = tcp_options
        self._out = OutputQueue(
            loop,
            self.fd,
            send=self._send,
            call=self._call,
            touch=self._touch,
            watch=self._update_interest,
            resume=self.on_writable,
            failed=self._producer_failed,
        )
        self._reading = True
        self._eof = False
        self._lingering = False
        self._idle_timeout = idle_timeout
        self._idle_timer: Timer | None = None
        self._early = b""  # read before the protocol took over (hand_over); it gets them first
        self._tls: TlsChannel | None = None  # once start_tls: every byte goes through it
        self.secure = False  # the connection runs TLS (start_tls was called)
        self.last_active = time.monotonic()
        sock.setblocking(False)

    def start(self) -> None:
        """Watch the socket, set its TCP options and tell the protocol it is connected."""
        self._update_interest()
        self.set_idle_timeout(self._idle_timeout)
        self._call(self._connect)

    def _connect(self) -> None:
        set_tcp_options(self.sock, self._tcp_options)
        self.protocol.connection_made(self)

    # -- what protocols call ----------------------------------------------------------
    def write(self, data: bytes) -> None:
        """Send bytes, in order after everything queued before."""
        if self.closing or not data:
            return
        if not self._out:
            try:
                # _send's expression, without its frame: every response goes through here
                sent = os.write(self.fd, data) if self._tls is None else self._tls.send(data)
            except BlockingIOError:
                sent = 0
            except OSError as exc:
                self._fail(exc)
                return
            if sent == len(data):
                self.last_active = self.loop.now  # the turn's clock: read once a turn
                return
            data = memoryview(data)[sent:]
        self._out.append(data)
        self._update_interest()

    def write_through(self, data: bytes) -> None:
        """Send bytes, and all queued before them, before returning: the caller blocks while
        the socket is full (a WSGI app's write() must not hold data back while the app runs).
        ConnectionError if the peer is gone or takes nothing for the idle timeout."""
        self.write(data)
        if self.pending() and not self.closed:
            waiting = select.poll()
            waiting.register(self.fd, select.POLLOUT)
            timeout = self._idle_timeout * 1000 if self._idle_timeout else None
            while self.pending() and not self.closed:
                if not waiting.poll(timeout):
                    self.abort(TimeoutError(f"the peer took nothing for {self._idle_timeout}s"))
                    break
                self.on_writable()
        if self.closed:
            raise ConnectionAbortedError("the connection closed before the data was sent")

    def send_file(self, file, offset: int, count: int, on_done: Done | None = None) -> None:
        """Send `count` bytes of an open file from `offset` (os.sendfile where possible)."""
        self._enqueue(FileRange(file, offset, count, on_done))

    def send_producer(self, iterator: Iterator[bytes], on_done: Done | None = None) -> None:
        """Send what an iterator yields, pulling the next chunk only as the socket drains."""
        self._enqueue(Producer(iterator, on_done))

    def when_sent(self, on_done: Done) -> None:
        """Call `on_done(None)` once everything queued so far has been sent."""
        self._enqueue(Callback(on_done))

    def pause_reading(self) -> None:
        self._reading = False
        self._update_interest()

    def resume_reading(self) -> None:
        if not self.closing:
            self._reading = True
            self._update_interest()
            if self._early or self._tls_ended():
                self.loop.call_soon(self._call, self._catch_up)

    def hand_over(self, protocol: Protocol, peer: Any, early: bytes = b"") -> None:
        """A gate that read the start of the stream (a PROXY header) gives the connection to
        `protocol`, as coming from `peer`. `early` is what it read past its part: the protocol
        gets those bytes before any other, and only while it reads (it may pause at once)."""
        self.protocol = protocol
        self.peer = peer
        self._early = early  # before connection_made: start_tls takes them as its first bytes
        protocol.connection_made(self)
        self._deliver_early()

    def start_tls(
        self,
        context: ssl.SSLContext,
        on_ready: Callable[[], None],
        early: bytes = b"",
        tickets: bool = True,
    ) -> None:
        """From now on every byte goes through TLS; `on_ready()` once the handshake is done
        (the caller bounds how long that may take). Bytes a gate read early, then `early`
        (what a protocol read past its STARTTLS-like command), start the TLS. `tickets`:
        issue TLS 1.3 session tickets (see tls._wrap for when not to)."""
        self._tls = TlsChannel(context, self.sock, on_ready, tickets)
        self.secure = self._out.secure = True
        early, self._early = self._early + early, b""
        if early:
            self._tls.feed(early)
            self.loop.call_soon(self.on_readable)  # the socket may never wake us for them

    def _deliver_early(self) -> None:
        if self._early and self._reading and not self.closing:
            early, self._early = self._early, b""
            self.protocol.data_received(early)

    def _catch_up(self) -> None:
        """Deliver what was read while the protocol was not reading; then the end of the
        stream if TLS has already read it (a close_notify in the last record read leaves
        nothing in the socket to wake the poller)."""
        self._deliver_early()
        if self._tls_ended() and self._reading and not self._eof and not self.closed:
            self.on_readable()

    def set_idle_timeout(self, seconds: float | None) -> None:
        """Drop (via protocol.idle_timeout) after `seconds` without progress; None: never."""
        self._idle_timeout = seconds
        if self._idle_timer:
            self._idle_timer.cancel()
            self._idle_timer = None
        if seconds and not self.closed:
            self.last_active = time.monotonic()
            self._idle_timer = self.loop.call_later(seconds, self._check_idle)

    def pending(self) -> bool:
        """True while anything is queued for sending (or TLS bytes wait for the socket)."""
        if self._out:  # a branch, not bool(): protocols ask after every response
            return True
        return self._tls is not None and self._tls.pending()

    @property
    def resumed(self) -> bool:
        """True when TLS resumed an earlier session instead of a full handshake."""
        return self._tls is not None and self._tls.resumed

    def close(self) -> None:
        """Close once everything queued has been sent."""
        if self.closing:
            return
        self.closing = True
        self._reading = False
        if not self.pending():
            self._shutdown_and_linger()
        else:
            self._update_interest()

    def abort(self, exc: BaseException | None = None) -> None:
        """Close now, dropping anything still queued."""
        if not self.closed:
            self._finish(exc)

    def drain(self) -> None:
        """The server is stopping: let the protocol finish what is in flight."""
        if not self.closing:
            self._call(self.protocol.drain_requested)

    def sockname(self) -> Any:
        return self.sock.getsockname()

    # -- what the loop calls ----------------------------------------------------------
    def on_readable(self) -> None:
        if self.closed:  # a read scheduled for early TLS bytes, after an abort
            return
        tls = self._tls
        try:
            if tls is None or self._lingering:  # lingering: discard, never decrypt
                data = os.read(self.fd, RECV_SIZE)  # see _send for why not sock.recv
            else:
                data = tls.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._fail(exc)
            return
        if self._lingering:
            if not data:
                self._finish(None)
            return
        if self._early:  # reading resumed, and the socket is read before the queued delivery
            self._call(self._deliver_early)
            if self.closing:
                return
        if data:
            self.last_active = self.loop.now  # the turn's clock: read once a turn
            if not self._reading:  # decrypted with the handshake's end, when `on_ready` paused
                self._early += data
                return
            try:  # what _call does, without its frame: this runs for every read
                self.protocol.data_received(data)
            except Exception as exc:
                self._protocol_failed(exc)
            if self._tls is not None and self._tls.ended:  # _tls_ended(); start_tls may have run
                self.loop.call_soon(self._call, self._catch_up)
            return
        self._eof = True
        self._reading = False
        self._update_interest()
        if not self._call(self.protocol.eof_received):
            self.close()

    def on_writable(self) -> None:
        try:
            if self._tls is not None:
                self._tls.flush()
            self._out.flush()
        except OSError as exc:
            self._fail(exc)
            return
        except ProducerFailed as failed:
            self._producer_failed(failed.__cause__)
            return
        if not self.pending() and self.closing and not self.closed:
            self._shutdown_and_linger()
        else:
            self._update_interest()

    # -- internals --------------------------------------------------------------------
    def _enqueue(self, item) -> None:
        if self.closing:
            if item.on_done:
                item.on_done(ConnectionAbortedError("connection is closing"))
            return
        self._out.append(item)
        if len(self._out) == 1:
            self.on_writable()  # try at once: the socket is usually writable
        else:
            self._update_interest()

    def _producer_failed(self, exc: BaseException) -> None:
        """Headers are out: the only honest end is to cut the connection."""
        log.error("response producer failed on %s: %r", self.peer, exc)
        self._finish(exc)

    def _touch(self) -> None:
        self.last_active = time.monotonic()

    def _update_interest(self) -> None:
        if self.closed:
            return
        mask = (READ if (self._reading and not self._eof) or self._lingering else 0) | (
            WRITE if (self._out and not self._out.pulling) or self._tls_waiting() else 0
        )
        self.loop.set_interest(self.fd, self, mask)

    def _shutdown_and_linger(self) -> None:
        """Send our FIN, then read and discard until the peer's FIN (bounded by LINGER)."""
        try:
            if self._tls is not None:  # clients that wait for it (ftplib's unwrap) get it
                self._tls.close_notify()
            if self._eof:
                self._finish(None)
                return
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._finish(None)
            return
        self._lingering = True
        self._update_interest()
        self.set_idle_timeout(None)
        self._idle_timer = self.loop.call_later(LINGER, self._finish, None)

    def _tls_ended(self) -> bool:
        """TLS has read the peer's end of the stream (maybe not yet reported)."""
        return self._tls is not None and self._tls.ended

    def _tls_waiting(self) -> bool:
        """Encrypted bytes wait for the socket (even while a producer's next chunk is made)."""
        return self._tls is not None and self._tls.pending()

    def _send(self, data) -> int:
        # write(2) and read(2) on a connected stream socket are send(2) and recv(2) without
        # flags; os.write and os.read skip the socket methods' format-string argument parsing
        # and timeout machinery (the socket is non-blocking): ~500 instructions a call fewer
        return os.write(self.fd, data) if self._tls is None else self._tls.send(data)

    def _check_idle(self) -> None:
        self._idle_timer = None
        if self.closed or not self._idle_timeout:
            return
        left = self.last_active + self._idle_timeout - time.monotonic()
        if left > 0:
            self._idle_timer = self.loop.call_later(left, self._check_idle)
        else:
            self._call(self.protocol.idle_timeout)

    def _fail(self, exc: OSError) -> None:
        if isinstance(exc, ssl.SSLError):  # e.g. clear text or a broken handshake
            log.warning("TLS with %s failed: %s", describe_peer(self.peer), exc.reason or exc)
        elif not isinstance(exc, _GONE) and exc.errno not in (errno.EPIPE, errno.ECONNRESET):
            log.warning("connection %s: %s", self.peer, exc)
        self._finish(exc)

    def _finish(self, exc: BaseException | None) -> None:
        if self.closed:
            return
        self.closed = True
        self.closing = True
        if self._idle_timer:
            self._idle_timer.cancel()
        self.loop.forget(self.fd)
        self.sock.close()
        self._out.discard(exc or ConnectionAbortedError("connection closed"))
        self._call(self.protocol.connection_lost, exc)
        if self._on_close:
            self._on_close(self)

    def _call(self, method: Callable, *args):
        """Run a protocol callback; a bug in it drops this connection only, with a log line."""
        try:
            return method(*args)
        except Exception as exc:
            self._protocol_failed(exc)
        return None

    def _protocol_failed(self, exc: Exception) -> None:
        """Called in the `except` that caught a protocol callback's exception."""
        log.exception("protocol error on %s", self.peer)
        self.abort(exc)

    def __repr__(self) -> str:
        return f"<StreamTransport fd={self.fd} peer={self.peer}>"
