"""Signal handlers that only queue; the model's loop dispatches them by name.

A handler runs at an arbitrary point of the main thread, so it does nothing but put the signal
on the loop's queue and wake the loop (gunicorn does the same). `Model.handle_signal` then calls
`handle_term`, `handle_hup`, ... from the loop, where any work is safe.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

from ..net.loop import EventLoop

HANDLED = tuple(
    getattr(signal, name)
    for name in ("SIGTERM", "SIGINT", "SIGQUIT", "SIGHUP", "SIGTTIN", "SIGTTOU", "SIGCHLD")
    if hasattr(signal, name)
)


class SignalQueue:
    """Installs queue-only handlers for HANDLED; `restore()` puts the defaults back."""

    def __init__(self, loop: EventLoop, dispatch: Callable[[int], None]):
        self._loop = loop
        self._dispatch = dispatch
        self._previous: dict[int, object] = {}

    def install(self) -> None:
        for signum in HANDLED:
            self._previous[signum] = signal.signal(signum, self._queue)
        accept_signals()  # a forked child's held signals now reach the queue

    def _queue(self, signum: int, frame) -> None:
        self._loop.call_soon_threadsafe(self._dispatch, signum)

    def restore(self) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        self._previous.clear()


def fork() -> int:
    """os.fork, with HANDLED signals held until the child has handlers of its own.

    A signal reaching a new child before it replaces the parent's handlers would run the
    parent's handler there -- queued on a loop the child never runs, so lost (a worker told to
    drain right after it was forked would serve on). So the parent blocks them around the fork;
    the child gets the default handlers, keeps them blocked, and calls `accept_signals` (or
    `SignalQueue.install`) once its own are in place: a pending signal is delivered then.
    """
    held = signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED)
    try:
        pid = os.fork()
    except OSError:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        raise
    if pid == 0:
        # The parent's wake-up descriptor (see EventLoop.run) is closed with the loop the child
        # drops; its number may then name a file the child writes: no signal byte may land there.
        signal.set_wakeup_fd(-1)
        for signum in HANDLED:
            signal.signal(signum, signal.SIG_DFL)
    else:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
    return pid


def accept_signals() -> None:
    """Unblock HANDLED (held by `fork` in a child until its handlers are installed)."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, HANDLED)


def signal_name(signum: int) -> str:
    """'term' for SIGTERM: the suffix of the model's handle_* method."""
    return signal.Signals(signum).name[3:].lower()
