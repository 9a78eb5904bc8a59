"""Non-blocking transports: what a protocol writes to, driven by an EventLoop.

A `StreamTransport` owns one connected socket. Writes are tried at once and queued only when
the socket is full, so a small response costs one `send` and no poller change. The queue also
holds file ranges (sent with `os.sendfile`), producers (iterators pulled as the socket drains)
and callbacks (run when everything queued before them is sent). After `start_tls` every byte
goes through a `TlsChannel` (server/net/tls.py) on the same socket, and files are copied
through it instead of sendfile'd.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import socket
import ssl
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from .address import describe_peer
from .loop import EventLoop, Timer
from .pollers import READ, WRITE
from .protocol import DatagramProtocol, Protocol
from .tls import SEND_SIZE, TlsChannel

log = logging.getLogger(__name__)

RECV_SIZE = 65536
CHUNK = 256 * 1024  # most bytes moved per item per turn, so one client cannot starve the loop
LINGER = 2.0  # seconds to wait for the peer's FIN after ours (unread data would turn into RST)
_GONE = (ConnectionError, TimeoutError)

Done = Callable[[BaseException | None], None]


class _File:
    __slots__ = ("count", "file", "offset", "on_done", "use_sendfile")

    def __init__(self, file, offset: int, count: int, on_done: Done | None):
        self.file, self.offset, self.count, self.on_done = file, offset, count, on_done
        self.use_sendfile = hasattr(file, "fileno")


class _Producer:
    __slots__ = ("exhausted", "iterator", "on_done", "pending")

    def __init__(self, iterator: Iterator[bytes], on_done: Done | None):
        self.iterator, self.on_done, self.pending = iterator, on_done, b""
        self.exhausted = False


_END = object()  # what a pulled iterator returns when it has nothing more


class _Callback:
    __slots__ = ("on_done",)

    def __init__(self, on_done: Done):
        self.on_done = on_done


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
    ):
        self.loop = loop
        self.sock = sock
        self.protocol = protocol
        self.peer = peer if peer is not None else _peername(sock)
        self.fd = sock.fileno()
        self.closed = False
        self._on_close = on_close
        self._out: deque = deque()
        self._reading = True
        self._eof = False
        self._closing = False
        self._lingering = False
        self._idle_timeout = idle_timeout
        self._idle_timer: Timer | None = None
        self._pulling = False  # a producer's next chunk is being made on the loop's executor
        self._early = b""  # read before the protocol took over (hand_over); it gets them first
        self._tls: TlsChannel | None = None  # once start_tls: every byte goes through it
        self.last_active = time.monotonic()
        sock.setblocking(False)

    def start(self) -> None:
        """Watch the socket and tell the protocol it is connected."""
        self._update_interest()
        self.set_idle_timeout(self._idle_timeout)
        self._call(self.protocol.connection_made, self)

    # -- what protocols call ----------------------------------------------------------
    def write(self, data: bytes) -> None:
        """Send bytes, in order after everything queued before."""
        if self._closing or not data:
            return
        if not self._out:
            try:
                sent = self._send(data)
            except BlockingIOError:
                sent = 0
            except OSError as exc:
                self._fail(exc)
                return
            if sent == len(data):
                self.last_active = time.monotonic()
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
        self._enqueue(_File(file, offset, count, on_done))

    def send_producer(self, iterator: Iterator[bytes], on_done: Done | None = None) -> None:
        """Send what an iterator yields, pulling the next chunk only as the socket drains."""
        self._enqueue(_Producer(iterator, on_done))

    def when_sent(self, on_done: Done) -> None:
        """Call `on_done(None)` once everything queued so far has been sent."""
        self._enqueue(_Callback(on_done))

    def pause_reading(self) -> None:
        self._reading = False
        self._update_interest()

    def resume_reading(self) -> None:
        if not self._closing:
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
        early, self._early = self._early + early, b""
        if early:
            self._tls.feed(early)
            self.loop.call_soon(self.on_readable)  # the socket may never wake us for them

    def _deliver_early(self) -> None:
        if self._early and self._reading and not self._closing:
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
        return bool(self._out) or self._tls_waiting()

    @property
    def secure(self) -> bool:
        """True when the connection runs TLS."""
        return self._tls is not None

    @property
    def resumed(self) -> bool:
        """True when TLS resumed an earlier session instead of a full handshake."""
        return self._tls is not None and self._tls.resumed

    def close(self) -> None:
        """Close once everything queued has been sent."""
        if self._closing:
            return
        self._closing = True
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

    @property
    def closing(self) -> bool:
        return self._closing or self.closed

    def sockname(self) -> Any:
        return self.sock.getsockname()

    # -- what the loop calls ----------------------------------------------------------
    def on_readable(self) -> None:
        if self.closed:  # a read scheduled for early TLS bytes, after an abort
            return
        try:
            data = self._recv()
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
            if self._closing:
                return
        if data:
            self.last_active = time.monotonic()
            if not self._reading:  # decrypted with the handshake's end, when `on_ready` paused
                self._early += data
                return
            self._call(self.protocol.data_received, data)
            if self._tls_ended():
                self.loop.call_soon(self._call, self._catch_up)
            return
        self._eof = True
        self._reading = False
        self._update_interest()
        if not self._call(self.protocol.eof_received):
            self.close()

    def on_writable(self) -> None:
        try:
            self._flush()
        except OSError as exc:
            self._fail(exc)
            return
        except ProducerFailed as failed:  # headers are out: the only honest end is to cut it
            log.error("response producer failed on %s: %r", self.peer, failed.__cause__)
            self._finish(failed.__cause__)
            return
        if not self.pending() and self._closing and not self.closed:
            self._shutdown_and_linger()
        else:
            self._update_interest()

    # -- internals --------------------------------------------------------------------
    def _enqueue(self, item) -> None:
        if self._closing:
            if item.on_done:
                item.on_done(ConnectionAbortedError("connection is closing"))
            return
        self._out.append(item)
        if len(self._out) == 1:
            self.on_writable()  # try at once: the socket is usually writable
        else:
            self._update_interest()

    def _flush(self) -> None:
        """Send from the queue until it is empty or the socket is full."""
        if self._tls is not None:
            self._tls.flush()
        out = self._out
        while out:
            item = out[0]
            if isinstance(item, (bytes, bytearray, memoryview)):
                if not self._send_bytes(out):
                    return
            elif isinstance(item, _File):
                if not self._send_file(item):
                    return
                out.popleft()
                self._done(item, None)
            elif isinstance(item, _Producer):
                if not self._pull(item):
                    return
                out.popleft()
                self._done(item, None)
            else:
                out.popleft()
                self._done(item, None)

    def _send_bytes(self, out: deque) -> bool:
        """Send the leading run of byte chunks, joined; False if the socket filled up."""
        chunks = []
        size = 0
        while out and isinstance(out[0], (bytes, bytearray, memoryview)) and size < CHUNK:
            chunk = out.popleft()
            chunks.append(chunk)
            size += len(chunk)
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        try:
            sent = self._send(data)
        except BlockingIOError:
            sent = 0
        if sent:
            self.last_active = time.monotonic()
        if sent < len(data):
            out.appendleft(memoryview(data)[sent:])
            return False
        return True

    def _send_file(self, item: _File) -> bool:
        """Send part of a file range; True when the whole range is sent."""
        while item.count > 0:
            size = min(item.count, CHUNK)
            try:
                sent = self._file_chunk(item, size)
            except BlockingIOError:
                return False
            if sent == 0:  # the file is shorter than promised: never pad, never hang
                raise OSError(errno.EIO, "file ended before the promised length")
            item.offset += sent
            item.count -= sent
            self.last_active = time.monotonic()
            if sent < size:
                return False
        return True

    def _file_chunk(self, item: _File, size: int) -> int:
        if self._tls is not None:  # sendfile would bypass the encryption: copy through TLS
            item.use_sendfile = False
            size = min(size, SEND_SIZE)
        if item.use_sendfile:
            try:
                return os.sendfile(self.fd, item.file.fileno(), item.offset, size)
            except OSError as exc:
                if exc.errno not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSOCK, errno.EOPNOTSUPP):
                    raise
                item.use_sendfile = False  # e.g. a pipe or a special file: copy instead
        item.file.seek(item.offset)
        data = item.file.read(size)
        if not data:
            return 0
        return self._send(data)

    def _pull(self, item: _Producer) -> bool:
        """Pull and send chunks; True when the iterator is exhausted and all of it sent."""
        moved = 0
        while moved < CHUNK:
            if not item.pending:
                if item.exhausted:
                    return True
                if not self.loop.executor.inline:
                    self._pull_off_loop(item)
                    return False
                try:
                    item.pending = next(item.iterator)
                except StopIteration:
                    return True
                except (Exception, SystemExit) as exc:  # app code: sys.exit() is a bug too
                    raise ProducerFailed() from exc
                continue
            try:
                sent = self._send(item.pending)
            except BlockingIOError:
                return False
            self.last_active = time.monotonic()
            moved += sent
            item.pending = memoryview(item.pending)[sent:] if sent < len(item.pending) else b""
        self._update_interest()  # yield to other clients; resume on the next writable event
        return False

    def _pull_off_loop(self, item: _Producer) -> None:
        """Make the next chunk on the executor's pool (application code, which may take its
        time between chunks); the loop goes on serving others, not watching for writability."""
        if not self._pulling:
            self._pulling = True
            self._update_interest()
            self.loop.executor.submit(lambda: next(item.iterator, _END), self._pulled)

    def _pulled(self, chunk, exc: BaseException | None) -> None:
        self._pulling = False
        if self.closed:
            return
        item = self._out[0]
        if exc is not None:
            log.error("response producer failed on %s: %r", self.peer, exc)
            self._finish(exc)
            return
        if chunk is _END:
            item.exhausted = True
        else:
            item.pending = chunk
        self.on_writable()

    def _done(self, item, exc: BaseException | None) -> None:
        if item.on_done:
            self._call(item.on_done, exc)

    def _update_interest(self) -> None:
        if self.closed:
            return
        mask = (READ if (self._reading and not self._eof) or self._lingering else 0) | (
            WRITE if (self._out and not self._pulling) or self._tls_waiting() else 0
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

    def _recv(self) -> bytes:
        if self._tls is None or self._lingering:  # lingering: discard, never decrypt
            return self.sock.recv(RECV_SIZE)
        return self._tls.recv(RECV_SIZE)

    def _tls_ended(self) -> bool:
        """TLS has read the peer's end of the stream (maybe not yet reported)."""
        return self._tls is not None and self._tls.ended

    def _tls_waiting(self) -> bool:
        """Encrypted bytes wait for the socket (even while a producer's next chunk is made)."""
        return self._tls is not None and self._tls.pending()

    def _send(self, data) -> int:
        return self.sock.send(data) if self._tls is None else self._tls.send(data)

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
        self._closing = True
        if self._idle_timer:
            self._idle_timer.cancel()
        self.loop.forget(self.fd)
        self.sock.close()
        pending, self._out = self._out, deque()
        for item in pending:
            if not isinstance(item, (bytes, bytearray, memoryview)) and item.on_done:
                self._call(item.on_done, exc or ConnectionAbortedError("connection closed"))
        self._call(self.protocol.connection_lost, exc)
        if self._on_close:
            self._on_close(self)

    def _call(self, method: Callable, *args):
        """Run a protocol callback; a bug in it drops this connection only, with a log line."""
        try:
            return method(*args)
        except Exception as exc:
            log.exception("protocol error on %s", self.peer)
            self.abort(exc)
        return None

    def __repr__(self) -> str:
        return f"<StreamTransport fd={self.fd} peer={self.peer}>"


class ProducerFailed(Exception):
    """An iterator given to send_producer raised; the connection cannot be completed."""


class DatagramTransport:
    """A bound datagram socket shared by every peer; replies queue if the socket is full.

    With no loop (a worker thread or child serving one datagram) a full socket is waited on
    instead. `dispatch` is where received datagrams go; by default, straight to the protocol.
    """

    MAX_QUEUE = 1024
    BATCH = 64

    def __init__(
        self, loop: EventLoop | None, sock: socket.socket, protocol: DatagramProtocol | None
    ):
        self.loop = loop
        self.sock = sock
        self.protocol = protocol
        self.dispatch: Callable[[bytes, Any], None] = self.receive
        self._reading = False
        self._out: deque[tuple[bytes, Any]] = deque()

    def set_reading(self, reading: bool) -> None:
        self._reading = reading
        self._update_interest()

    def sendto(self, data: bytes, addr: Any) -> None:
        """Send one datagram to `addr`."""
        if not addr:
            log.debug("datagram from an unbound Unix socket: no address to answer")
            return
        if not self._out:
            try:
                self.sock.sendto(data, addr)
                return
            except BlockingIOError:
                pass
            except OSError as exc:
                log.warning("sendto %s: %s", addr, exc)
                return
        self._queue(data, addr)

    def receive(self, data: bytes, addr: Any) -> None:
        """Hand one datagram to the protocol; its bugs are logged, never fatal."""
        try:
            self.protocol.datagram_received(data, addr, self)
        except Exception:
            log.exception("datagram protocol error for %s", addr)

    def on_readable(self) -> None:
        for _ in range(self.BATCH):  # bounded, so other handlers get their turn
            if not self._reading:
                return
            try:
                data, addr = self.sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.warning("recvfrom: %s", exc)
                return
            self.dispatch(data, addr)

    def on_writable(self) -> None:
        while self._out:
            data, addr = self._out[0]
            try:
                self.sock.sendto(data, addr)
            except BlockingIOError:
                return
            except OSError as exc:
                log.warning("sendto %s: %s", addr, exc)
            self._out.popleft()
        self._update_interest()

    def _queue(self, data: bytes, addr: Any) -> None:
        if self.loop is None:  # nobody to wake us: wait for room on this worker's thread
            select.select([], [self.sock], [], 1.0)
            try:
                self.sock.sendto(data, addr)
            except OSError as exc:
                log.warning("sendto %s: %s", addr, exc)
            return
        if len(self._out) >= self.MAX_QUEUE:
            log.warning("datagram reply queue full: dropping a reply to %s", addr)
            return
        self._out.append((data, addr))
        self._update_interest()

    def _update_interest(self) -> None:
        mask = (READ if self._reading else 0) | (WRITE if self._out else 0)
        self.loop.set_interest(self.sock.fileno(), self, mask)


def _peername(sock: socket.socket) -> Any:
    try:
        return sock.getpeername()
    except OSError:
        return None
