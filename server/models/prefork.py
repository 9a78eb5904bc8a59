"""Prefork: a master keeps --workers processes serving one shared listening socket.

The master never serves. It forks workers, each running an inner model (--worker-model, epoll
by default) on the inherited socket, and watches them (models/worker.py has the contract):

- a worker that dies is replaced (with a pause if they keep dying, and the master gives up
  if a worker cannot even start);
- a worker whose heartbeat stops for --worker-timeout (stuck in the application) gets TERM,
  then KILL, and a replacement at once;
- a worker that has served --max-requests (+ up to --max-requests-jitter) drains itself and is
  replaced; its replacement starts as soon as it says it is leaving (--reuse-port: it serves
  on until its replacement is ready, then gets TERM, as after a HUP);
- HUP starts a fresh set of workers with the code on disk; only once every one of them is
  ready (its first heartbeat) does the old set drain. A new worker that cannot start (its code
  does not even import) aborts the reload: the old workers keep serving, the error is logged;
- TERM drains every worker and exits; INT/QUIT stop them at once;
- TTIN/TTOU add or retire one worker.

With --reuse-port each worker listens on a socket of its own (SO_REUSEPORT), bound after the
fork, and the kernel hashes each new connection to one of them instead of letting the workers
race for one queue. The master holds the port with a socket it binds but never listens on (so
port 0 works, and Linux hashes nothing to it). What that costs is in docs/design.md (prefork).
With --cpu-affinity each worker runs on one CPU (models/affinity.py), and with --reuse-port
also takes the connections that arrive on that CPU.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from dataclasses import dataclass

from ..errors import ConfigError, ModelUnavailable
from ..net.address import parse_address
from ..net.sockets import Listener, hold_port, open_listener
from .affinity import allowed_cpus, least_used
from .base import Model
from .children import kill, kill_and_reap, reap_exited
from .lifecycle import DRAINING, RUNNING, Lifecycle
from .multiplex import Epoll
from .options import Facts, Option
from .signals import fork
from .worker import LEAVING, NOT_READY, WORKER_BOOT_ERROR, Heart, beat_interval, run_worker

log = logging.getLogger("server.model")

RESPAWN_WINDOW = 10.0  # seconds over which deaths are counted
RESPAWN_BURST = 5  # deaths in the window after which respawning slows down
RESPAWN_DELAY = 1.0
KILL_AFTER = 3.0  # seconds between the TERM and the KILL sent to a silent worker
BOOT_LIMIT = 30.0  # seconds a worker may take to become ready (at least --worker-timeout)


@dataclass
class Worker:
    pid: int
    heart: Heart
    generation: int  # which HUP started it (0: the first set)
    started: float
    ready: bool = False
    leaving: bool = False  # asked to be replaced, serving until then (--reuse-port)
    cpu: int | None = None  # the one it runs on (--cpu-affinity)


def _inner_models() -> list[str]:
    from . import MODELS  # the registry imports this module

    return [name for name, cls in MODELS.items() if cls.fits_in_prefork]


def _inner(settings) -> type[Model]:
    from . import model_class

    inner = model_class(settings.worker_model)
    if not inner.fits_in_prefork:
        raise ModelUnavailable(f"--worker-model cannot be {inner.name}")
    return inner


class Prefork(Lifecycle):
    """The arbiter: never serves, keeps workers that each run the serving model it is given."""

    name = "prefork"
    summary = "a master and --workers processes with an inner model: use all cores, survive crashes"
    options = (
        Option("workers", int, os.cpu_count() or 2, "prefork: worker processes", minimum=1),
        Option(
            "worker_model", str, Epoll.name, "prefork: each worker's model", choices=_inner_models
        ),
        Option(
            "worker_timeout",
            float,
            0.0,
            "prefork: replace a worker silent (stuck) this many seconds; 0: never",
            minimum=0,
        ),
        Option(
            "max_requests",
            int,
            0,
            "prefork: recycle a worker after this many requests (drained first); 0: never",
            minimum=0,
        ),
        Option(
            "max_requests_jitter",
            int,
            0,
            "prefork: add 0..J to --max-requests per worker, so they do not recycle together",
            minimum=0,
        ),
        Option(
            "reuse_port",
            bool,
            False,
            "prefork: each worker listens on its own SO_REUSEPORT socket (TCP only)",
        ),
        Option(
            "cpu_affinity",
            bool,
            False,
            "prefork: pin each worker to one CPU, in turn (with --reuse-port: and its traffic)",
        ),
    )
    small = ("--workers", "2")
    multiprocess = True
    fits_in_prefork = False

    @classmethod
    def facts(cls, settings) -> Facts:
        inner = _inner(settings)
        facts = inner.facts(settings)
        # HUP briefly doubles the workers, TTIN adds some: room for both.
        processes = (2 * settings.workers + 8) * facts.processes
        return facts._replace(processes=processes, multiprocess=True, worker_model=inner.name)

    @classmethod
    def bind(cls, settings) -> Listener:
        """The shared listening socket; with --reuse-port, only the port, held (hold_port)."""
        if not settings.reuse_port:
            return super().bind(settings)
        address = parse_address(settings.bind)
        if address.is_unix or settings.udp:
            raise ConfigError("--reuse-port: TCP only (Unix and UDP sockets cannot share so)")
        return hold_port(address)

    def worker_listener(self) -> Listener:
        """In a new worker: what it serves. With --reuse-port a socket of its own, bound now
        (a replacement binds again); its copy of the master's held socket is closed."""
        if not self.settings.reuse_port:
            return self.listener
        own = open_listener(self.listener.address, backlog=self.settings.backlog, reuse_port=True)
        self.listener.close()
        return own

    def __init__(self, service, listener, settings, inner: type[Model] | None = None):
        self.inner = inner or _inner(settings)
        super().__init__(service, listener, settings)

    def runs_blocking_with(self, settings) -> bool:
        return self.inner.facts(settings).runs_blocking  # the inner model it was given

    def title(self) -> str:
        return f"the prefork model with {self.inner.name} workers"

    def start(self) -> None:
        super().start()
        self.target = self.settings.workers
        self.workers: dict[int, Worker] = {}
        self.retiring: set[int] = set()
        self.deaths: list[float] = []
        self.generation = 0
        self.cpus = allowed_cpus() if self.settings.cpu_affinity else []
        log.info(
            "%s on %s, prefork master with %d %s workers",
            self.service.name,
            self.listener.address,
            self.target,
            self.inner.name,
        )
        self.start_side()
        self.spawn_missing()
        self._watch()

    # -- workers ----------------------------------------------------------------------------
    def serving(self, generation: int | None = None) -> list[Worker]:
        """Workers not told to go, of one generation (the current one by default)."""
        wanted = self.generation if generation is None else generation
        return [
            w
            for w in self.workers.values()
            if w.generation == wanted and w.pid not in self.retiring and not w.leaving
        ]

    def spawn_missing(self) -> None:
        while self.state == RUNNING and len(self.serving()) < self.target:
            if not self.spawn():
                return

    def spawn(self) -> bool:
        heart = Heart()
        cpu = least_used(self.cpus, [w.cpu for w in self.serving()]) if self.cpus else None
        try:
            pid = fork()
        except OSError as exc:
            log.error("cannot fork a worker: %s", exc.strerror)
            heart.close()
            return False
        if pid == 0:
            run_worker(self, heart, cpu)  # never returns
        self.workers[pid] = Worker(pid, heart, self.generation, time.monotonic(), cpu=cpu)
        log.info("worker %d started%s", pid, "" if cpu is None else f" on CPU {cpu}")
        return True

    def retire(self, pid: int, signum: int = signal.SIGTERM) -> None:
        self.retiring.add(pid)
        kill(pid, signum)

    # -- heartbeats ---------------------------------------------------------------------------
    def _watch(self) -> None:
        """Read every heartbeat: readiness, silence, leaving; then finish a reload."""
        if self.state != RUNNING:
            return
        now = time.monotonic()
        for worker in list(self.workers.values()):
            if worker.pid in self.retiring:
                continue
            stamp = worker.heart.last()
            if stamp == LEAVING:  # recycling itself: start its replacement now
                self._leaving(worker)
            elif stamp == NOT_READY:
                if now - worker.started > max(BOOT_LIMIT, self.settings.worker_timeout):
                    self._silent(worker, "did not become ready")
            else:
                worker.ready = True
                timeout = self.settings.worker_timeout
                if timeout and now - stamp > timeout:
                    self._silent(worker, f"sent no heartbeat for {now - stamp:.1f}s")
        self._finish_reload()
        self.loop.call_later(beat_interval(self.settings.worker_timeout), self._watch)

    def _leaving(self, worker: Worker) -> None:
        if self.settings.reuse_port:  # it serves on: _finish_reload retires it
            worker.leaving = True
        else:  # already draining
            self.retiring.add(worker.pid)
        self.spawn_missing()

    def _silent(self, worker: Worker, what: str) -> None:
        log.error("worker %d %s (stuck?): killing and replacing it", worker.pid, what)
        if not worker.ready and self._older_serving(worker.generation):
            self._reload_failed(worker)
        self.retire(worker.pid)
        self.loop.call_later(KILL_AFTER, self._kill_if_alive, worker)
        self.spawn_missing()

    def _kill_if_alive(self, worker: Worker) -> None:
        if self.workers.get(worker.pid) is worker:  # not reaped: the pid is still its own
            kill(worker.pid, signal.SIGKILL)

    # -- reloading ---------------------------------------------------------------------------
    def _older_serving(self, generation: int) -> list[Worker]:
        return [
            w
            for w in self.workers.values()
            if w.generation < generation and w.pid not in self.retiring
        ]

    def _finish_reload(self) -> None:
        """Once the current generation is complete and ready, the older ones drain, and so
        do workers waiting to be replaced (--reuse-port)."""
        old = self._older_serving(self.generation)
        leaving = [w for w in self.workers.values() if w.leaving and w.pid not in self.retiring]
        current = self.serving()
        if (old or leaving) and len(current) >= self.target and all(w.ready for w in current):
            if old:
                log.info("new workers ready: draining %d old worker(s)", len(old))
            for worker in old + leaving:
                self.retire(worker.pid)

    def _reload_failed(self, worker: Worker) -> None:
        old = self._older_serving(worker.generation)
        log.error(
            "reload failed: new worker %d could not start (its error is above); "
            "%d old worker(s) keep serving",
            worker.pid,
            len(old),
        )
        for other in list(self.workers.values()):
            if other.generation >= worker.generation and other is not worker:
                self.retire(other.pid)
        self.generation = max(w.generation for w in old)

    # -- signals ----------------------------------------------------------------------------
    def handle_chld(self) -> None:
        for pid, status in reap_exited():
            worker = self.workers.pop(pid, None)
            if worker is None:
                continue
            worker.ready = worker.ready or worker.heart.last() != NOT_READY
            worker.heart.close()
            if pid in self.retiring:
                self.retiring.discard(pid)
            elif self.state == RUNNING:
                self._unexpected_exit(worker, status)
        if self.state == DRAINING and not self.workers:
            self.stop()
        elif self.state == RUNNING:
            self._respawn()

    def _unexpected_exit(self, worker: Worker, status: int) -> None:
        pid = worker.pid
        exited = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
        if not worker.ready and self._older_serving(worker.generation):
            self._reload_failed(worker)
            return
        if exited == WORKER_BOOT_ERROR:
            log.error("worker %d could not start; stopping", pid)
            self.exit_status = 1
            self.handle_int()
            return
        if exited == 0:  # drained of its own accord (--max-requests) or told to by someone
            log.info("worker %d exited; replacing it", pid)
            return
        how = f"signal {os.WTERMSIG(status)}" if exited is None else f"status {exited}"
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
        self.generation += 1
        log.info("reloading: %d new worker(s) start; the old ones serve until they are ready",
                 self.target)  # fmt: skip
        self.spawn_missing()

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
        serving = self.serving()
        if len(serving) > self.target:
            self.retire(min(serving, key=lambda w: w.started).pid)  # the oldest goes

    def cleanup(self) -> None:
        kill_and_reap(self.workers)
        for worker in self.workers.values():
            worker.heart.close()
        self.workers.clear()
        self.listener.close()
        super().cleanup()
