"""The life every model shares: a loop, queued signals, an input, bounds and draining.

A model is one decision -- where a request runs -- made in one hook, `process_request`
(as in `socketserver`). Everything else is here:

    serve() -> start() -> loop: input -> process_request -> begin/end -> ... -> cleanup()

Signals arrive through a queue and are dispatched to `handle_<name>` methods on the loop:
TERM drains (stop accepting, let requests finish, at most --graceful-timeout), INT and QUIT stop
at once, HUP asks the service to reload. Every path ends with no child, thread or socket left.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any, ClassVar

from ..config import Settings
from ..errors import ModelUnavailable
from ..metrics import METRICS
from ..net.loop import EventLoop
from ..net.sockets import Listener
from ..service import Service, Session
from .acceptor import Acceptor, DatagramInput
from .side import SideListener
from .signals import SignalQueue, signal_name
from .worker import Duties

log = logging.getLogger("server.model")

NEW, RUNNING, DRAINING, STOPPED = "new", "running", "draining", "stopped"
#: Exit status of a worker process that could not start serving (gunicorn's contract too).
WORKER_BOOT_ERROR = 3
#: After INT/QUIT or the graceful timeout, how long to wait for aborted requests to end.
ABORT_GRACE = 2.0


class Model:
    """Base of every model. Subclasses set the class attributes and override one hook."""

    name: ClassVar[str] = ""
    #: One line for `python -m server models`: when to choose this model.
    summary: ClassVar[str] = ""
    #: The main loop's poller class; None picks the most scalable one available.
    poller: ClassVar[type | None] = None
    #: True when each request gets a thread or process, so a blocking handler may run.
    runs_blocking: ClassVar[bool] = True
    #: True when requests are served in child processes (whose counts the model never sees).
    serves_in_children: ClassVar[bool] = False

    def __init__(self, service: Service, listener: Listener, settings: Settings):
        """Runs before any fork: remember things, check they fit, start nothing."""
        self.service = service
        self.listener = listener
        self.settings = settings
        self.state = NEW
        self.active: set[Session] = set()
        self.loop: EventLoop | None = None
        self.input: Acceptor | DatagramInput | None = None
        self.exit_status = 0
        self.started_at = time.time()
        #: A prefork worker's duties to its master (heartbeat, recycling); None elsewhere.
        self.duties: Duties | None = None
        #: The metrics listener (--metrics-listen), served by this process's loop; set by the
        #: caller (never by a model's workers, which close their copy).
        self.side: SideListener | None = None
        if not service.event_driven and not self.runs_blocking:
            raise ModelUnavailable(
                f"{self.title()} serves every client from one thread, so it cannot run "
                f"a blocking socketserver handler; use iterative, fork, thread, threadpool, "
                f"or prefork with one of those as --worker-model"
            )

    # -- the hook -----------------------------------------------------------------------
    def process_request(self, request: Any, addr: Any) -> None:
        """Decide where `request` runs. Must be overridden."""
        raise NotImplementedError

    def title(self) -> str:
        """How messages name this model. May be overridden."""
        return f"the {self.name} model"

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
    def serve(self) -> int:
        """Serve until stopped by a signal; return the exit status. Do not override."""
        self.loop = EventLoop(self.poller)
        self.signals = SignalQueue(self.loop, self.handle_signal)
        self.signals.install()
        try:
            self.start()
            self.loop.run(until=lambda: self.state == STOPPED)
        finally:
            self.cleanup()
        return self.exit_status

    def start(self) -> None:
        """Open the input and start accepting. May be extended."""
        self.state = RUNNING
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

    def start_side(self) -> None:
        if self.side is not None:
            self.side.start(self.loop)

    def cleanup(self) -> None:
        """Release the loop, signal handlers and input. May be extended."""
        self.signals.restore()
        if self.input:
            self.input.close()
        self.close_side()
        self.loop.close()

    def close_side(self) -> None:
        if self.side is not None:
            self.side.close()

    def forked(self) -> None:
        """In a child process the model forked: leave the parent's loop and side listener."""
        self.loop.close()  # our copies only: the parent's poller is untouched
        if self.side is not None:
            self.side.drop_copy()

    # -- bookkeeping shared by the models -------------------------------------------------
    def begin(self, request: Any, addr: Any) -> Session:
        """Count a request in; pause the input at capacity."""
        session = Session(request, addr)
        self.active.add(session)
        METRICS.add("server_connections_total")
        METRICS.add("server_connections_open")
        if not self.has_room():
            self.input.pause()
        return session

    def end(self, session: Session) -> None:
        """Count a request out (on the loop's thread); resume, or finish a drain."""
        if session not in self.active:
            return
        self.active.discard(session)
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
        session = self.begin(request, addr)
        if not self.service.event_driven:
            self.serve_blocking(request, addr, session)
            self.end(session)
            return
        try:
            handle = self.service.attach(self.loop, request, addr, lambda _: self.end(session))
        except OSError as exc:  # e.g. select() cannot watch a descriptor >= FD_SETSIZE
            log.warning("dropping %s: %s", addr, exc)
            request.close()
            self.end(session)
            return
        session.bind(handle.drain, handle.abort)

    def serve_blocking(self, request: Any, addr: Any, session: Session) -> None:
        """Serve one request to the end on the calling thread, then close its socket."""
        try:
            self.service.handle(request, addr, session)
        except Exception:
            log.exception("request from %s failed", addr)
        finally:
            if not isinstance(request, tuple):
                request.close()

    # -- signals --------------------------------------------------------------------------
    def handle_signal(self, signum: int) -> None:
        handler = getattr(self, f"handle_{signal_name(signum)}", None)
        if handler is None:
            log.info(
                "ignoring SIG%s: the %s model has no use for it",
                signal_name(signum).upper(),
                self.name,
            )
            return
        handler()

    def handle_term(self) -> None:
        """Graceful: stop accepting, let requests in flight finish, then exit."""
        if self.state != RUNNING:
            return
        log.info(
            "draining %d request(s), at most %ss", len(self.active), self.settings.graceful_timeout
        )
        self.state = DRAINING
        self.input.close()
        for session in list(self.active):
            session.drain()
        self.loop.call_later(self.settings.graceful_timeout, self.force_stop)
        if not self.active:
            self.stop()

    def handle_int(self) -> None:
        """Fast: abort every request and exit."""
        log.info("stopping now")
        self.force_stop()

    handle_quit = handle_int

    def handle_hup(self) -> None:
        log.info("reloading %s", self.service.name)
        self.service.reload()

    def handle_chld(self) -> None:
        """Children are reaped by the models that fork. May be overridden."""

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
        for session in list(self.active):
            session.abort()
        self.loop.call_later(ABORT_GRACE, self.stop)

    def stop(self) -> None:
        self.state = STOPPED
        self.loop.stop()

    def describe(self) -> dict[str, Any]:
        """What the operations endpoints report about this model."""
        return {"model": self.name, "pid": os.getpid(), "active": len(self.active)}
