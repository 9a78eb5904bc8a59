"""Concurrency with processes: a child per request, reaped by the parent.

The parent only accepts, forks and reaps; the child serves one request and exits. Children
share nothing, so a crash or a leak in one cannot touch another -- at the price of a fork per
request. At --max-children the parent stops accepting until one exits: a flood of clients waits
in the listen backlog instead of fork-bombing the host.
"""

from __future__ import annotations

import logging
import signal

from ..logsink import exit_process
from ..service import InFlight
from .base import Model
from .children import kill, kill_and_reap, reap_exited
from .options import Facts, Option
from .signals import accept_signals, fork

log = logging.getLogger("server.model")


class Fork(Model):
    name = "fork"
    summary = "a process per client (bounded by --max-children): isolation, CPU-heavy requests"
    options = (Option("max_children", int, 256, "fork: most child processes at once", minimum=1),)
    serves_in_children = True
    multiprocess = True
    connections_on_one_thread = True

    @classmethod
    def facts(cls, settings) -> Facts:
        return super().facts(settings)._replace(processes=settings.max_children + 1)

    def start(self) -> None:
        self.children: dict[int, InFlight] = {}
        super().start()

    def capacity(self) -> int:
        return self.settings.max_children

    def process_request(self, request, addr) -> None:
        flight = self.begin(request, addr)
        try:
            pid = fork()
        except OSError as exc:  # EAGAIN/ENOMEM: refuse this one, keep serving
            log.error("fork failed: %s; dropping %s", exc.strerror, addr)
            self._close(request)
            self.end(flight)
            return
        if pid == 0:
            self._child(request, addr)  # never returns
        flight.bind(lambda: kill(pid, signal.SIGTERM), lambda: kill(pid, signal.SIGKILL))
        self.children[pid] = flight
        self._close(request)  # the child has its own copy

    def _child(self, request, addr) -> None:
        """Serve one request in the child and exit, never returning into the parent's code."""
        status = 0
        try:
            self.forked()
            if not self.listener.datagram:
                self.listener.sock.close()
            flight = InFlight(request, addr)
            signal.signal(signal.SIGTERM, lambda *_: flight.drain())
            signal.signal(signal.SIGINT, lambda *_: flight.abort())
            signal.signal(signal.SIGQUIT, lambda *_: flight.abort())
            accept_signals()
            self.serve_blocking(request, addr, flight)
        except BaseException:
            log.exception("child serving %s failed", addr)
            status = 1
        finally:
            exit_process(status)

    def handle_chld(self) -> None:
        """Reap every child that has exited; each one frees a place."""
        for pid, _ in reap_exited():
            flight = self.children.pop(pid, None)
            if flight is not None:
                self.end(flight)

    def cleanup(self) -> None:
        """Leave no child behind: kill what survived the grace period and reap it."""
        kill_and_reap(self.children)
        self.children.clear()
        super().cleanup()

    @staticmethod
    def _close(request) -> None:
        if not isinstance(request, tuple):
            request.close()
