"""The life every model shares, serving or not: a loop, queued signals, a start and a stop.

    serve() -> start() -> loop until stop() -> cleanup()

Signals arrive through a queue and are dispatched to `handle_<name>` methods on the loop.
Two kinds of model build on this, as gunicorn splits its Arbiter from its Worker: the serving
model (models/base.py: input, requests in flight, capacity, drain) and the prefork arbiter
(models/prefork.py), which serves nothing itself and is given the serving model its workers run.
"""

from __future__ import annotations

import logging
import signal
import time
from typing import TYPE_CHECKING, ClassVar

from ..errors import ModelUnavailable
from ..net.address import parse_address
from ..net.loop import EventLoop
from ..net.sockets import Listener, open_listener
from ..service import Service
from .options import Facts, Option
from .side import SideListener
from .signals import SignalQueue, signal_name

if TYPE_CHECKING:
    from ..config import Settings

log = logging.getLogger("server.model")

NEW, RUNNING, DRAINING, STOPPED = "new", "running", "draining", "stopped"


class Lifecycle:
    """Base of every model: what it declares about itself, and its loop from start to stop."""

    name: ClassVar[str] = ""
    #: One line for `python -m server models`: when to choose this model.
    summary: ClassVar[str] = ""
    #: The settings this model reads, each a flag with an environment twin.
    options: ClassVar[tuple[Option, ...]] = ()
    #: Flags that keep it small where many servers share a machine (the tests).
    small: ClassVar[tuple[str, ...]] = ()
    #: The main loop's poller class; None picks the most scalable one available.
    poller: ClassVar[type | None] = None
    #: True when each request gets a thread or process, so a blocking handler may run.
    runs_blocking: ClassVar[bool] = True
    #: WSGI's wsgi.multithread and wsgi.multiprocess under this model.
    multithread: ClassVar[bool] = False
    multiprocess: ClassVar[bool] = False
    #: False for a model that cannot be the one inside each prefork worker.
    fits_in_prefork: ClassVar[bool] = True

    @classmethod
    def facts(cls, settings: Settings) -> Facts:
        """What this model will be with `settings`. May be extended (more processes)."""
        return Facts(1, cls.multithread, cls.multiprocess, cls.runs_blocking)

    @classmethod
    def bind(cls, settings: Settings) -> Listener:
        """The listener to serve, opened before anything else. May be overridden."""
        address = parse_address(settings.bind)
        return open_listener(address, datagram=settings.udp, backlog=settings.backlog)

    def __init__(self, service: Service, listener: Listener, settings: Settings):
        """Runs before any fork: remember things, check they fit, start nothing."""
        self.service = service
        self.listener = listener
        self.settings = settings
        self.state = NEW
        self.loop: EventLoop | None = None
        self.exit_status = 0
        self.term_delayed = False  # --drain-delay: the first TERM is waiting its turn
        self.started_at = time.time()
        #: The metrics listener (--metrics-listen), served by this process's loop; set by the
        #: caller (never in a forked child or worker, which closes its copy: `forked`).
        self.side: SideListener | None = None
        if not service.event_driven and not self.runs_blocking_with(settings):
            raise ModelUnavailable(
                f"{self.title()} serves every client from one thread, so it cannot run "
                f"a blocking socketserver handler; use {_blocking_models()}"
            )

    def runs_blocking_with(self, settings: Settings) -> bool:
        """Whether this instance can run a blocking handler. May be overridden."""
        return self.facts(settings).runs_blocking

    def title(self) -> str:
        """How messages name this model. May be overridden."""
        return f"the {self.name} model"

    def serve(self) -> int:
        """Run until stopped by a signal; return the exit status. Do not override."""
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
        """Begin running (the loop exists, signals are queued). May be extended."""
        self.state = RUNNING

    def start_side(self) -> None:
        """Serve the metrics listener on this loop (after the start-up line naming --bind)."""
        if self.side is not None:
            self.side.start(self.loop)

    def cleanup(self) -> None:
        """Release the signal handlers, the metrics listener and the loop. May be extended."""
        self.signals.restore()
        if self.side is not None:
            self.side.close()
        self.loop.close()

    def forked(self) -> None:
        """In a child process this model forked: leave the parent's loop and side listener."""
        self.loop.close()  # our copies only: the parent's poller is untouched
        if self.side is not None:
            self.side.drop_copy()

    def stop(self) -> None:
        """Leave the loop; cleanup() follows."""
        self.state = STOPPED
        self.loop.stop()

    # -- signals, dispatched by name on the loop ----------------------------------------------
    def handle_signal(self, signum: int) -> None:
        if signum == signal.SIGTERM and self._delays_term():
            return
        handler = getattr(self, f"handle_{signal_name(signum)}", None)
        if handler is None:
            log.info(
                "ignoring SIG%s: the %s model has no use for it",
                signal_name(signum).upper(),
                self.name,
            )
            return
        handler()

    def _delays_term(self) -> bool:
        """With --drain-delay, the first TERM keeps serving that long, then drains: a balancer
        that learns of the stop from DNS (Swarm's dnsrr drops a task's address as it sends
        TERM) stops sending first, instead of finding the address gone. A second TERM drains
        at once."""
        delay = self.settings.drain_delay
        if not delay or self.state != RUNNING or self.term_delayed:
            return False
        self.term_delayed = True
        log.info("TERM: serving %gs more before draining (--drain-delay)", delay)
        self.loop.call_later(delay, self.handle_signal, signal.SIGTERM)
        return True

    def handle_hup(self) -> None:
        """Reload the service's code and configuration. May be overridden."""
        log.info("reloading %s", self.service.name)
        self.service.reload()

    def handle_chld(self) -> None:
        """Children are reaped by the models that fork. May be overridden."""


def _blocking_models() -> str:
    from . import MODELS  # the registry imports this module

    names = [name for name, cls in MODELS.items() if cls.runs_blocking and cls.fits_in_prefork]
    runs_others = [name for name, cls in MODELS.items() if not cls.fits_in_prefork]
    also = f", or {' or '.join(runs_others)} with one of those as --worker-model"
    return ", ".join(names) + (also if runs_others else "")
