"""A small reactor: readiness callbacks, timers and cross-thread calls on one poller.

Every model runs one: the multiplexing models serve all connections from it, the blocking
models give each connection (or worker thread) a private one, so the same transports and
protocols run everywhere. Handlers are objects with `on_readable()` / `on_writable()`.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Protocol

from .executor import INLINE, Executor
from .pollers import READ, WRITE, best_poller

log = logging.getLogger(__name__)


class Handler(Protocol):
    def on_readable(self) -> None: ...
    def on_writable(self) -> None: ...


class Timer:
    """A scheduled call; `cancel()` is O(1) (the heap entry is skipped when it comes up)."""

    __slots__ = ("args", "callback", "cancelled", "loop", "when")

    def __init__(self, loop: EventLoop, when: float, callback: Callable, args: tuple):
        self.loop = loop
        self.when = when
        self.callback = callback
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        if not self.cancelled:
            self.cancelled = True
            self.loop._timer_cancelled()

    def __lt__(self, other: Timer) -> bool:
        return self.when < other.when


class Waker:
    """A pipe whose read end wakes the loop; written to by other threads and signal handlers."""

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)
        os.set_blocking(self.write_fd, False)
        # Another thread may wake a loop that is closing: once closed, the descriptor number
        # may name someone else's file, so a late wake must not write to it. Re-entrant: a
        # signal handler may wake the loop from inside a wake on the same thread.
        self._lock = threading.RLock()
        self._closed = False

    def wake(self) -> None:
        with self._lock:
            if self._closed:
                return
            try:
                os.write(self.write_fd, b"\0")
            except OSError:
                pass  # the pipe is full: a wake-up is pending anyway

    def on_readable(self) -> None:
        try:
            while os.read(self.read_fd, 4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def on_writable(self) -> None:  # never registered for writing
        pass

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for fd in (self.read_fd, self.write_fd):
                os.close(fd)


def _bind(calls: dict[int, Callable[[], None]], fd: int, call: Callable[[], None] | None) -> None:
    if call is None:
        calls.pop(fd, None)
    else:
        calls[fd] = call


class EventLoop:
    """Dispatches readiness events, timers and queued calls until stopped."""

    #: The clock timers run on (protocols read it through their Scheduler).
    time = staticmethod(time.monotonic)

    def __init__(self, poller_cls: type | None = None):
        self.poller = (poller_cls or best_poller())()
        self._masks: dict[int, int] = {}
        # What a ready descriptor calls, bound once per change of interest rather than looked
        # up per event; a descriptor is in each only while its mask asks for that side
        self._readers: dict[int, Callable[[], None]] = {}
        self._writers: dict[int, Callable[[], None]] = {}
        self._timers: list[Timer] = []
        self._cancelled = 0
        self._ready: deque[tuple[Callable, tuple]] = deque()
        self._stopping = False
        #: The clock (monotonic) when the poller last returned: when what is read in this turn
        #: arrived. Read once a turn, for every transport's activity and request's start.
        self.now = time.monotonic()
        #: Where protocols run blocking (application) work; a model may give it a pool.
        self.executor: Executor = INLINE
        self.waker = Waker()
        self.set_interest(self.waker.read_fd, self.waker, READ)

    # -- descriptors ---------------------------------------------------------------
    def set_interest(self, fd: int, handler: Handler, mask: int) -> None:
        """Watch `fd` for READ and/or WRITE (mask 0 stops watching it)."""
        old = self._masks.get(fd)
        if mask == old:
            return
        if not mask:
            self.forget(fd)
            return
        if old is None:
            self.poller.register(fd, mask)
        else:
            self.poller.modify(fd, mask)
        self._masks[fd] = mask
        _bind(self._readers, fd, handler.on_readable if mask & READ else None)
        _bind(self._writers, fd, handler.on_writable if mask & WRITE else None)

    def forget(self, fd: int) -> None:
        """Stop watching `fd` (call before closing it)."""
        if self._masks.pop(fd, None) is not None:
            self._readers.pop(fd, None)
            self._writers.pop(fd, None)
            try:
                self.poller.unregister(fd)
            except (OSError, KeyError, ValueError):
                pass

    def watched(self) -> int:
        """How many descriptors are watched, not counting the waker."""
        return len(self._masks) - 1

    # -- calls and timers -----------------------------------------------------------
    def call_soon(self, callback: Callable, *args) -> None:
        self._ready.append((callback, args))

    def call_soon_threadsafe(self, callback: Callable, *args) -> None:
        """Queue a call from another thread (or a signal handler) and wake the loop."""
        self._ready.append((callback, args))
        self.waker.wake()

    def call_later(self, delay: float, callback: Callable, *args) -> Timer:
        timer = Timer(self, time.monotonic() + delay, callback, args)
        heapq.heappush(self._timers, timer)
        return timer

    def _timer_cancelled(self) -> None:
        # Per-request timeouts are mostly cancelled long before they are due; without this the
        # heap would hold every one of them until its deadline (asyncio does the same).
        self._cancelled += 1
        if self._cancelled > 256 and self._cancelled * 2 > len(self._timers):
            self._timers = [t for t in self._timers if not t.cancelled]
            heapq.heapify(self._timers)
            self._cancelled = 0

    # -- running --------------------------------------------------------------------
    def stop(self) -> None:
        """Make `run()` return after the current turn."""
        self._stopping = True
        self.waker.wake()

    def run(self, until: Callable[[], bool] | None = None) -> None:
        """Run turns until `stop()` is called or `until()` becomes true."""
        self._stopping = False
        with self._woken_by_signals():
            while not self._stopping and not (until and until()):
                self.run_once()

    @contextlib.contextmanager
    def _woken_by_signals(self) -> Iterator[None]:
        """On the main thread, a signal also writes to this loop's waker (`set_wakeup_fd`).

        Python runs a handler only between bytecodes: a signal landing after run_once has
        worked out its wait but before the poller's system call would otherwise wait out that
        whole timeout (forever with no timer set). Handlers that queue work with
        `call_soon_threadsafe` rely on this.
        """
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = signal.set_wakeup_fd(self.waker.write_fd, warn_on_full_buffer=False)
        try:
            yield
        finally:
            signal.set_wakeup_fd(previous)

    def run_once(self) -> None:
        readers, writers, poller = self._readers, self._writers, self.poller
        readable, writable = poller.readable, poller.writable  # in the poller's own bits
        timers = self._timers  # the wait is worked out here, not in a method: every turn asks
        while timers and timers[0].cancelled:  # the earliest live timer bounds the wait
            heapq.heappop(timers)
            self._cancelled -= 1
        if self._ready or self._stopping:
            wait = 0
        elif timers:
            wait = timers[0].when - time.monotonic()
            wait = wait if wait > 0 else 0  # never negative: epoll would wait forever
        else:
            wait = None  # until a descriptor (or the waker) is ready
        ready = poller.poll(wait)
        self.now = now = time.monotonic()
        for fd, events in ready:
            # looked up when called: an earlier handler (or this one's read) may have changed
            # what fd waits for, or forgotten it
            call = None
            try:
                if events & readable and (call := readers.get(fd)) is not None:
                    call()
                if events & writable and (call := writers.get(fd)) is not None:
                    call()
            except Exception:  # a handler bug must not take every other connection down
                log.exception("unhandled error in %r", call)
                self.forget(fd)
        timers = self._timers
        if timers and timers[0].when <= now:  # one due while handlers ran waits one (short) turn
            self._run_timers(now)
        if self._ready:
            self._run_ready()

    def _run_timers(self, now: float) -> None:
        """Queue the calls of the timers due at `now` (cancelled ones are dropped)."""
        timers = self._timers
        while timers and timers[0].when <= now:
            timer = heapq.heappop(timers)
            if timer.cancelled:
                self._cancelled -= 1
            else:
                timer.cancelled = True  # fired: a later cancel() must not count it again
                self._ready.append((timer.callback, timer.args))

    def _run_ready(self) -> None:
        ready = self._ready
        for _ in range(len(ready)):  # calls queued by these calls wait for the next turn
            if not ready:
                return
            callback, args = ready.popleft()
            try:
                callback(*args)
            except Exception:
                log.exception("unhandled error in %r", callback)

    def close(self) -> None:
        """Release the poller and waker; handlers must have closed their own descriptors."""
        self.poller.close()
        self.waker.close()
        self._masks.clear()
        self._readers.clear()
        self._writers.clear()
        self._timers.clear()
        self._cancelled = 0
