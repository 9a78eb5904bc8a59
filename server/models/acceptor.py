"""How requests come in: accepted connections, or datagrams read from the bound socket.

Both inputs can pause, which is how every model bounds itself: while paused, new connections
wait in the kernel's listen backlog (datagrams in the socket's receive buffer) instead of
costing a process or a thread.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable
from typing import Any

from ..net.datagram_transport import DatagramTransport
from ..net.loop import EventLoop
from ..net.pollers import READ
from ..net.protocol import DatagramProtocol
from ..net.sockets import Listener

log = logging.getLogger(__name__)

# Out of descriptors or memory: accepting again at once would fail again and spin a core.
_RESOURCE_ERRORS = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
# The peer gave up between SYN and accept(): nothing to do but take the next one.
_PEER_ERRORS = {errno.ECONNABORTED, errno.EPROTO, errno.EPERM, errno.ECONNRESET}


class Acceptor:
    """Accepts connections in small batches; backs off on EMFILE instead of spinning."""

    BATCH = 16
    MIN_BACKOFF = 0.05
    MAX_BACKOFF = 1.0

    def __init__(self, loop: EventLoop, listener: Listener, on_request: Callable[[Any, Any], None]):
        self.loop = loop
        self.listener = listener
        self.on_request = on_request
        self.paused = True
        self.closed = False
        self._backoff = 0.0

    def resume(self) -> None:
        if not self.closed:
            self.paused = False
            self.loop.set_interest(self.listener.fileno, self, READ)

    def pause(self) -> None:
        if not self.closed:
            self.paused = True
            self.loop.forget(self.listener.fileno)

    def close(self, graceful: bool = False) -> None:
        """Stop accepting for good and close this process's copy of the listener. `graceful`:
        a queue of our own (SO_REUSEPORT) is emptied first, as no other worker would take its
        connections and closing it resets them."""
        if not self.closed:
            if graceful and self.listener.own_queue:
                self._take_queued()
            self.loop.forget(self.listener.fileno)
            self.closed = True
            self.listener.close()

    def on_readable(self) -> None:
        for _ in range(self.BATCH):
            try:
                sock, addr = self.listener.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in _RESOURCE_ERRORS:
                    self._back_off(exc)
                    return
                if exc.errno in _PEER_ERRORS:
                    continue
                raise
            self._backoff = 0.0
            self.on_request(sock, addr)
            if self.paused or self.closed:  # the model reached its bound inside this batch
                return

    def on_writable(self) -> None:
        pass

    def _take_queued(self) -> None:
        """Accept every connection waiting, whatever the bound: the last chance to serve it."""
        while True:
            try:
                sock, addr = self.listener.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in _PEER_ERRORS:
                    continue
                log.warning("accept while draining: %s", exc.strerror)
                return
            self.on_request(sock, addr)

    def _back_off(self, exc: OSError) -> None:
        self._backoff = min(max(self._backoff * 2, self.MIN_BACKOFF), self.MAX_BACKOFF)
        log.warning("accept: %s; pausing %.2fs", exc.strerror, self._backoff)
        self.pause()
        self.loop.call_later(self._backoff, self.resume)


class DatagramInput(DatagramTransport):
    """Reads datagrams for the model (which dispatches each) and queues replies from the loop."""

    def __init__(
        self,
        loop: EventLoop,
        listener: Listener,
        protocol: DatagramProtocol | None,
        on_request: Callable[[Any, Any], None],
    ):
        super().__init__(loop, listener.sock, protocol)
        self.listener = listener
        self.dispatch = lambda data, addr: on_request((data, listener.sock), addr)
        self.closed = False

    @property
    def paused(self) -> bool:
        return not self._reading

    def resume(self) -> None:
        if not self.closed:
            self.set_reading(True)

    def pause(self) -> None:
        if not self.closed:
            self.set_reading(False)

    def close(self, graceful: bool = False) -> None:
        """Stop reading; `graceful` changes nothing: --reuse-port is TCP only."""
        if not self.closed:
            self.loop.forget(self.listener.fileno)
            self.closed = True
            self.listener.close()
