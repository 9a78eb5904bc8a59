"""Prefork: a master keeps --workers processes serving one shared listening socket.

The master never serves. It forks workers, each running an inner model (--worker-model, epoll
by default) on the inherited socket, and watches them:

- a worker that dies is replaced (with a pause if they keep dying, and the master gives up
  if a worker cannot even start);
- TERM drains every worker and exits; INT/QUIT stop them at once;
- HUP starts a fresh set of workers, then drains the old set (the socket never closes, so no
  connection is refused and fresh code is loaded);
- TTIN/TTOU add or retire one worker.
"""

from __future__ import annotations

import logging
import os
import signal
import time

from ..errors import ModelUnavailable
from ..logsink import exit_process
from .base import DRAINING, RUNNING, WORKER_BOOT_ERROR, Model
from .children import kill, kill_and_reap, reap_exited
from .signals import fork

log = logging.getLogger("server.model")

RESPAWN_WINDOW = 10.0  # seconds over which deaths are counted
RESPAWN_BURST = 5  # deaths in the window after which respawning slows down
RESPAWN_DELAY = 1.0


class Prefork(Model):
    name = "prefork"
    summary = "a master and --workers processes with an inner model: use all cores, survive crashes"

    def __init__(self, service, listener, settings, inner: type[Model] | None = None):
        from . import model_class  # the registry imports this module

        self.inner = inner or model_class(settings.worker_model)
        if self.inner is Prefork:
            raise ModelUnavailable("--worker-model cannot be prefork")
        self.runs_blocking = self.inner.runs_blocking
        super().__init__(service, listener, settings)

    def title(self) -> str:
        return f"the prefork model with {self.inner.name} workers"

    def start(self) -> None:
        self.state = RUNNING
        self.target = self.settings.workers
        self.workers: dict[int, float] = {}  # pid -> start time
        self.retiring: set[int] = set()
        self.deaths: list[float] = []
        log.info(
            "%s on %s, prefork master with %d %s workers",
            self.service.name,
            self.listener.address,
            self.target,
            self.inner.name,
        )
        self.spawn_missing()

    # -- workers ----------------------------------------------------------------------------
    def spawn_missing(self) -> None:
        while self.state == RUNNING and len(self.workers) - len(self.retiring) < self.target:
            self.spawn()

    def spawn(self) -> None:
        try:
            pid = fork()
        except OSError as exc:
            log.error("cannot fork a worker: %s", exc.strerror)
            return
        if pid == 0:
            self._worker()  # never returns
        self.workers[pid] = time.monotonic()
        log.info("worker %d started", pid)

    def _worker(self) -> None:
        """The worker process: run the inner model on the inherited socket, then exit."""
        status = WORKER_BOOT_ERROR
        try:
            self.loop.close()
            self.service.worker_started()
            model = self.inner(self.service, self.listener, self.settings)
            status = 1
            status = model.serve()
        except BaseException:
            log.exception("worker failed")
        finally:
            exit_process(status)

    def retire(self, pid: int, signum: int = signal.SIGTERM) -> None:
        self.retiring.add(pid)
        kill(pid, signum)

    # -- signals ----------------------------------------------------------------------------
    def handle_chld(self) -> None:
        for pid, status in reap_exited():
            if self.workers.pop(pid, None) is None:
                continue
            if pid in self.retiring:
                self.retiring.discard(pid)
            elif self.state == RUNNING:
                self._unexpected_exit(pid, status)
        if self.state == DRAINING and not self.workers:
            self.stop()
        elif self.state == RUNNING:
            self._respawn()

    def _unexpected_exit(self, pid: int, status: int) -> None:
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) == WORKER_BOOT_ERROR:
            log.error("worker %d could not start; stopping", pid)
            self.exit_status = 1
            self.handle_int()
            return
        how = (
            f"signal {os.WTERMSIG(status)}"
            if os.WIFSIGNALED(status)
            else f"status {os.WEXITSTATUS(status)}"
        )
        log.warning("worker %d died (%s); replacing it", pid, how)
        self.deaths.append(time.monotonic())

    def _respawn(self) -> None:
        now = time.monotonic()
        self.deaths = [t for t in self.deaths if now - t < RESPAWN_WINDOW]
        if len(self.deaths) >= RESPAWN_BURST:  # crashing in a loop: do not spin the CPU
            self.loop.call_later(RESPAWN_DELAY, self.spawn_missing)
        else:
            self.spawn_missing()

    def handle_term(self) -> None:
        if self.state != RUNNING:
            return
        log.info(
            "draining %d worker(s), at most %ss", len(self.workers), self.settings.graceful_timeout
        )
        self._stop_workers(signal.SIGTERM, self.settings.graceful_timeout + 1)

    def handle_int(self) -> None:
        log.info("stopping workers now")
        self._stop_workers(signal.SIGQUIT, 3.0)

    handle_quit = handle_int

    def _stop_workers(self, signum: int, patience: float) -> None:
        self.state = DRAINING
        self.listener.close()  # new clients are refused now, not parked in a dying backlog
        for pid in list(self.workers):
            self.retire(pid, signum)
        self.loop.call_later(patience, self.force_stop)
        if not self.workers:
            self.stop()

    def force_stop(self) -> None:
        for pid in list(self.workers):
            self.retire(pid, signal.SIGKILL)
        self.stop()

    def handle_hup(self) -> None:
        if self.state != RUNNING:
            return
        old = [pid for pid in self.workers if pid not in self.retiring]
        log.info("replacing %d worker(s)", len(old))
        self.retiring.update(old)  # counted out first, so spawn_missing starts a full new set
        self.spawn_missing()
        for pid in old:
            self.retire(pid)

    def handle_ttin(self) -> None:
        self.target += 1
        log.info("workers: %d", self.target)
        self.spawn_missing()

    def handle_ttou(self) -> None:
        if self.target <= 1:
            log.info("workers: keeping the last one")
            return
        self.target -= 1
        log.info("workers: %d", self.target)
        serving = [pid for pid in self.workers if pid not in self.retiring]
        if len(serving) > self.target:
            self.retire(min(serving, key=self.workers.__getitem__))  # the oldest goes

    def cleanup(self) -> None:
        kill_and_reap(self.workers)
        self.workers.clear()
        self.signals.restore()
        self.listener.close()
        self.loop.close()

    def capacity(self) -> None:
        return None

    def describe(self) -> dict:
        return {**super().describe(), "workers": len(self.workers), "worker_model": self.inner.name}
