"""The contract between the prefork master and each worker: a heartbeat, and recycling.

A `Heart` is 8 bytes of shared memory made by the master before the fork. The worker stamps it
with the monotonic clock (one clock for every process of the host) from its loop:

- its first beat says it is ready (its code loaded, its model accepting): HUP waits for it
  before draining the old workers;
- later beats say it is alive; a worker silent for --worker-timeout is killed and replaced.
  A loop stuck in the application stops beating by itself; a model that runs the application
  off its loop (hybrid) stops beating while a request has run longer than the timeout;
- LEAVING says it is draining of its own accord (--max-requests): the master starts its
  replacement at once instead of waiting for it to exit. With --reuse-port it says it wants
  to leave and keeps serving (and stamping LEAVING) until the master, its replacement ready,
  sends TERM: its socket is its own, and closing every worker's at once would refuse clients.

No system call, no lock: one writer, one reader, an aligned 8-byte double.

`run_worker` is the worker's whole life after the fork (gunicorn's `init_process`): it builds
the serving model the master was given, hands it its duties, serves, and exits with a status
the master reads (WORKER_BOOT_ERROR: it could not even start).
"""

from __future__ import annotations

import copy
import itertools
import logging
import mmap
import random
import struct
import time
from typing import TYPE_CHECKING

from ..logsink import exit_process
from .affinity import pin

if TYPE_CHECKING:
    from .base import Model
    from .prefork import Prefork

log = logging.getLogger("server.model")

#: Exit status of a worker process that could not start serving (gunicorn's contract too).
WORKER_BOOT_ERROR = 3
NOT_READY = 0.0
LEAVING = -1.0
_STAMP = struct.Struct("d")


class Heart:
    """One worker's heartbeat slot, shared across the fork."""

    def __init__(self) -> None:
        self._map = mmap.mmap(-1, _STAMP.size)  # anonymous and shared: both sides see it

    def beat(self, stamp: float | None = None) -> None:
        _STAMP.pack_into(self._map, 0, time.monotonic() if stamp is None else stamp)

    def last(self) -> float:
        return _STAMP.unpack_from(self._map, 0)[0]

    def close(self) -> None:
        self._map.close()


def beat_interval(worker_timeout: float) -> float:
    """How often a worker beats: several times per timeout, at most once a second."""
    return min(1.0, worker_timeout / 4) if worker_timeout else 1.0


class Duties:
    """What a worker does for its master; runs in the worker, started by Model.start."""

    def __init__(
        self,
        heart: Heart,
        worker_timeout: float,
        max_requests: int,
        jitter: int,
        waits_for_replacement: bool = False,
    ):
        self.heart = heart
        self.waits_for_replacement = waits_for_replacement
        self.leaving = False
        self.worker_timeout = worker_timeout
        self.max_requests = max_requests + random.randint(0, jitter) if max_requests else 0
        self._served = itertools.count(1)  # next() is atomic: worker threads may count too
        self._counts_connections = False
        self.model: Model | None = None

    def start(self, model: Model) -> None:
        self.model = model
        if self.max_requests:  # a child process's count would stay in the child
            self._counts_connections = model.serves_in_children or not (
                model.service.count_requests(self.request_done)
            )
        self._beat()

    def _beat(self) -> None:
        model = self.model
        if self.leaving:
            self.heart.beat(LEAVING)  # until the master sends TERM
        elif not self.worker_timeout or model.stuck_for() < self.worker_timeout:
            self.heart.beat()
        model.loop.call_later(beat_interval(self.worker_timeout), self._beat)

    def connection_ended(self) -> None:
        """Model.end: services that do not count their own requests count connections."""
        if self._counts_connections:
            self.request_done()

    def request_done(self) -> None:
        """One request served (any thread); the max-requests-th starts the recycling."""
        if next(self._served) == self.max_requests:
            self.model.loop.call_soon_threadsafe(self._recycle)

    def _recycle(self) -> None:
        self.heart.beat(LEAVING)
        if self.waits_for_replacement:
            log.info("served %d requests: serving until replaced", self.max_requests)
            self.leaving = True
            return
        log.info("served %d requests: draining to be replaced", self.max_requests)
        self.model.handle_term()


def run_worker(master: Prefork, heart: Heart, cpu: int | None = None) -> None:
    """In a new worker process: run the master's inner model on the inherited socket (or its
    own, --reuse-port), pinned to `cpu` if given (--cpu-affinity), then exit (never returns)."""
    status = WORKER_BOOT_ERROR
    try:
        master.forked()  # the master's loop and metrics listener: our copies only
        master.service.worker_started(fresh_code=master.generation > 0)
        listener = master.worker_listener()
        if cpu is not None:
            pin(cpu, listener)
        settings = copy.copy(master.settings)
        settings.drain_delay = 0.0  # the master waited before it passed TERM on
        model = master.inner(master.service, listener, settings)
        model.duties = Duties(
            heart,
            settings.worker_timeout,
            settings.max_requests,
            settings.max_requests_jitter,
            waits_for_replacement=settings.reuse_port,
        )
        status = 1
        status = model.serve()
    except BaseException:
        log.exception("worker failed")
    finally:
        exit_process(status)
