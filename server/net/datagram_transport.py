"""The datagram transport: one bound datagram socket (UDP or Unix) shared by every peer."""

from __future__ import annotations

import logging
import select
import socket
from collections import deque
from collections.abc import Callable
from typing import Any

from .loop import EventLoop
from .pollers import READ, WRITE
from .protocol import DatagramProtocol

log = logging.getLogger(__name__)


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
