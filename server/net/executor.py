"""Where blocking work (application code) runs, as seen from a loop: inline, or on a pool.

A protocol asks its loop's executor to `submit(work, on_done)`: `work()` runs somewhere, and
`on_done(result, exc)` is always called back on the loop's thread. Every loop starts with
`INLINE` (the work runs at once, on the caller's thread): a select/poll/epoll loop then blocks
while the application runs, and a thread or process serving one client blocks only itself.
The hybrid model gives its loop a `ThreadPool`, so the loop keeps reading and writing while
the application runs on a bounded set of threads.

Back-pressure: the pool holds at most threads + queue_size jobs. Past that, jobs are parked on
the loop (nothing is dropped) and `on_full` tells the owner to stop taking new work (the
hybrid model stops accepting); `on_room` when the backlog is gone. A protocol that submits
stops reading its connection until the answer is back, so each connection parks one job at
most.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .loop import EventLoop

log = logging.getLogger(__name__)

Work = Callable[[], Any]
OnDone = Callable[[Any, BaseException | None], None]


class Executor:
    """Runs `work` and calls `on_done(result, exc)` on the loop's thread."""

    #: True when `submit` has finished (and called back) before it returns.
    inline = True

    def submit(self, work: Work, on_done: OnDone) -> None:
        try:
            result = work()
        except BaseException as exc:  # the caller decides what an error means
            on_done(None, exc)
            return
        on_done(result, None)

    def wait_on_loop(self, start: Callable[[Callable], None]) -> None:
        """From the work: call `start(done)` on the loop and return once it calls `done(exc)`
        (raising `exc`). Inline work already runs on the loop, where waiting would deadlock."""
        raise RuntimeError("inline work runs on the loop's thread: nothing to wait for")


INLINE = Executor()


class ThreadPool(Executor):
    """`threads` workers fed by a queue of at most `queue_size`; the loop collects results."""

    inline = False

    def __init__(
        self,
        loop: EventLoop,
        threads: int,
        queue_size: int,
        on_full: Callable[[], None] = lambda: None,
        on_room: Callable[[], None] = lambda: None,
    ):
        self.loop = loop
        self.limit = threads + queue_size
        self.on_full = on_full
        self.on_room = on_room
        self.full = False
        self._in_pool = 0  # queued or running, counted on the loop's thread
        self._parked: deque[tuple[Work, OnDone]] = deque()
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._started: dict[int, float] = {}  # thread ident -> when its current job began
        self._threads = [
            threading.Thread(target=self._work, daemon=True, name=f"app-{i}")
            for i in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, work: Work, on_done: OnDone) -> None:
        if self._in_pool >= self.limit:
            self._parked.append((work, on_done))
            if not self.full:
                self.full = True
                log.debug("application queue full (%d): pausing new work", self.limit)
                self.on_full()
            return
        self._in_pool += 1
        self._queue.put((work, on_done))

    def wait_on_loop(self, start: Callable[[Callable], None]) -> None:
        finished = threading.Event()
        outcome: list[BaseException | None] = [None]

        def done(exc: BaseException | None) -> None:
            outcome[0] = exc
            finished.set()

        def run() -> None:
            try:
                start(done)
            except BaseException as exc:  # a failure on the loop must not leave us waiting
                done(exc)

        self.loop.call_soon_threadsafe(run)
        finished.wait()
        if outcome[0] is not None:
            raise outcome[0]

    def busy_for(self) -> float:
        """Seconds the longest-running job has been running (0 when idle)."""
        started = list(self._started.values())
        return time.monotonic() - min(started) if started else 0.0

    def close(self, timeout: float = 1.0) -> None:
        """Stop the threads; a job stuck in the application is left to the daemon thread."""
        for _ in self._threads:
            self._queue.put(None)
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _work(self) -> None:
        me = threading.get_ident()
        while (job := self._queue.get()) is not None:
            work, on_done = job
            self._started[me] = time.monotonic()
            result, error = None, None
            try:
                result = work()
            except BaseException as exc:
                error = exc
            finally:
                del self._started[me]
            self.loop.call_soon_threadsafe(self._finished, on_done, result, error)

    def _finished(self, on_done: OnDone, result: Any, error: BaseException | None) -> None:
        self._in_pool -= 1
        if self._parked:
            self.submit(*self._parked.popleft())
        elif self.full and self._in_pool < self.limit:
            self.full = False
            log.debug("application queue has room again")
            self.on_room()
        on_done(result, error)
