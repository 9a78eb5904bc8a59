"""The serving model: an input, requests in flight, a bound, and draining.

A model is one decision -- where a request runs -- made in one hook, `process_request`
(as in `socketserver`). The loop and the signals are the lifecycle's (models/lifecycle.py);
the rest of serving is here:

    start() opens the input -> process_request -> begin/end -> ... -> cleanup() closes it

TERM drains (stop accepting, let requests finish, at most --graceful-timeout), INT and QUIT stop
at once, HUP asks the service to reload. Every path ends with no child, thread or socket left.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, ClassVar

from ..metrics import METRICS
from ..net.sockets import Listener
from ..service import InFlight, Service
from .acceptor import Acceptor, DatagramInput
from .lifecycle import DRAINING, RUNNING, STOPPED, Lifecycle
from .worker import Duties

if TYPE_CHECKING:
    from ..config import Settings

log = logging.getLogger("server.model")

#: After INT/QUIT or the graceful timeout, how long to wait for aborted requests to end.
ABORT_GRACE = 2.0


class Model(Lifecycle):
    """Base of every serving model. Subclasses set the class attributes and override one hook."""

    #: True when requests are served in child processes (whose counts the model never sees).
    serves_in_children: ClassVar[bool] = False
    #: True when each process serves all its connections from one thread (the loop's, or a
    #: fork child's only one), wherever the application runs (hybrid: on a pool). The
    #: request metrics, counted where connections are served, then need no lock.
    connections_on_one_thread: ClassVar[bool] = False

    def __init__(self, service: Service, listener: Listener, settings: Settings):
        super().__init__(service, listener, settings)
        self.active: set[InFlight] = set()
        self.input: Acceptor | DatagramInput | None = None
        #: A prefork worker's duties to its master (heartbeat, recycling); None elsewhere.
        self.duties: Duties | None = None

    # -- the hook -----------------------------------------------------------------------
    def process_request(self, request: Any, addr: Any) -> None:
        """Decide where `request` runs. Must be overridden."""
        raise NotImplementedError

    def capacity(self) -> int | None:
        """Most requests in flight at once; the input pauses at this bound. May be overridden."""
        return None

    def has_room(self) -> bool:
        """Whether to take another request now. May be extended."""
        limit = self.capacity()
        return limit is None or len(self.active) < limit

    def stuck_for(self) -> float:
        """Seconds application code has been running without returning, where the model can
        tell while its loop still turns (a prefork worker then stops its heartbeat)."""
        return 0.0

    # -- life -----------------------------------------------------------------------------
    def start(self) -> None:
        """Open the input and start accepting. May be extended."""
        super().start()
        METRICS.serving(self, self.connections_on_one_thread)  # before the first connection
        if self.listener.datagram:
            self.input = DatagramInput(
                self.loop, self.listener, self.service.datagram_protocol(), self.process_request
            )
        else:
            self.input = Acceptor(self.loop, self.listener, self.process_request)
        self.input.resume()
        METRICS.add("server_workers")  # this process serves (a prefork master does not)
        if self.duties is not None:
            self.duties.start(self)
        log.info(
            "%s on %s (%s), model %s",
            self.service.name,
            self.listener.address,
            "datagram" if self.listener.datagram else "stream",
            self.name,
        )
        self.start_side()

    def cleanup(self) -> None:
        """Close the input, then release the loop. May be extended."""
        if self.input:
            self.input.close()
        METRICS.served(self)
        super().cleanup()

    # -- bookkeeping shared by the models -------------------------------------------------
    def begin(self, request: Any, addr: Any) -> InFlight:
        """Count a request in; pause the input at capacity."""
        flight = InFlight(request, addr)
        self.active.add(flight)
        METRICS.add("server_connections_total")
        METRICS.add("server_connections_open")
        if not self.has_room():
            self.input.pause()
        return flight

    def end(self, flight: InFlight) -> None:
        """Count a request out (on the loop's thread); resume, or finish a drain."""
        if flight not in self.active:
            return
        self.active.discard(flight)
        METRICS.add("server_connections_open", -1)
        if self.duties is not None:
            self.duties.connection_ended()
        if self.state == DRAINING and not self.active:
            self.stop()
        elif self.state == RUNNING and self.input.paused and self.has_room():
            self.input.resume()

    def serve_here(self, request: Any, addr: Any) -> None:
        """Serve on this loop's thread: attach to the loop, or (blocking handlers) run now."""
        if isinstance(request, tuple) and self.service.event_driven:
            self.input.receive(request[0], addr)  # a datagram: the protocol answers at once
            return
        flight = self.begin(request, addr)
        if not self.service.event_driven:
            self.serve_blocking(request, addr, flight)
            self.end(flight)
            return
        try:
            handle = self.service.attach(self.loop, request, addr, lambda _: self.end(flight))
        except OSError as exc:  # e.g. select() cannot watch a descriptor >= FD_SETSIZE
            log.warning("dropping %s: %s", addr, exc)
            request.close()
            self.end(flight)
            return
        flight.bind(handle.drain, handle.abort)

    def serve_blocking(self, request: Any, addr: Any, flight: InFlight) -> None:
        """Serve one request to the end on the calling thread, then close its socket."""
        try:
            self.service.handle(request, addr, flight)
        except Exception:
            log.exception("request from %s failed", addr)
        finally:
            if not isinstance(request, tuple):
                request.close()

    # -- signals ----------------------------------------------------------------------------
    def handle_term(self) -> None:
        """Graceful: stop accepting, let requests in flight finish, then exit."""
        if self.state != RUNNING:
            return
        log.info(
            "draining %d request(s), at most %ss", len(self.active), self.settings.graceful_timeout
        )
        self.state = DRAINING
        self.input.close(graceful=True)
        for flight in list(self.active):
            flight.drain()
        self.loop.call_later(self.settings.graceful_timeout, self.force_stop)
        if not self.active:
            self.stop()

    def handle_int(self) -> None:
        """Fast: abort every request and exit."""
        log.info("stopping now")
        self.force_stop()

    handle_quit = handle_int

    def force_stop(self) -> None:
        """Abort what is left; stop when it has ended, or after ABORT_GRACE regardless."""
        if self.state == STOPPED:
            return
        if self.input:
            self.input.close()
        self.state = DRAINING
        if not self.active:
            self.stop()
            return
        log.warning("aborting %d request(s)", len(self.active))
        for flight in list(self.active):
            flight.abort()
        self.loop.call_later(ABORT_GRACE, self.stop)
