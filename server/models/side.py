"""A listener the model's main loop serves itself, beside the clients' one (`--metrics-listen`).

Its connections are not clients: the model never counts them, never bounds them, never hands
them to a thread, a child or a worker. So it answers under every model from the one process
that outlives the others -- the fork parent, the prefork master -- and, the metrics table being
shared memory, sees what every process counted. At most MAX_OPEN of its connections at once;
more wait in its backlog. A forked child closes its copy of the socket (`drop_copy`).
"""

from __future__ import annotations

import logging
from typing import Any

from ..net.loop import EventLoop
from ..net.sockets import Listener
from ..service import Service
from .acceptor import Acceptor

log = logging.getLogger("server.model")


class SideListener:
    MAX_OPEN = 4

    def __init__(self, listener: Listener, service: Service):
        self.listener = listener
        self.service = service
        self.open = 0
        self.acceptor: Acceptor | None = None
        self.loop: EventLoop | None = None

    def start(self, loop: EventLoop) -> None:
        self.loop = loop
        self.acceptor = Acceptor(loop, self.listener, self._accepted)
        self.acceptor.resume()
        # Worded without " on ADDRESS": that names the clients' listener in the start-up line.
        log.info("%s listener: %s (GET /metrics)", self.service.name, self.listener.address)

    def _accepted(self, sock: Any, addr: Any) -> None:
        self.open += 1
        if self.open >= self.MAX_OPEN:
            self.acceptor.pause()
        try:
            self.service.attach(self.loop, sock, addr, self._closed)
        except OSError as exc:  # e.g. select() cannot watch a descriptor >= FD_SETSIZE
            log.warning("dropping %s connection from %s: %s", self.service.name, addr, exc)
            sock.close()
            self._closed(exc)

    def _closed(self, _exc: BaseException | None) -> None:
        self.open -= 1
        if self.acceptor.paused:
            self.acceptor.resume()  # a no-op once closed

    def close(self) -> None:
        """Stop serving it (the model's cleanup)."""
        if self.acceptor is not None:
            self.acceptor.close()
        else:
            self.listener.close()

    def drop_copy(self) -> None:
        """In a forked child: close the inherited socket, leave the parent's serving."""
        self.listener.sock.close()
