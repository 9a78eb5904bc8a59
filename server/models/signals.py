"""Signal handlers that only queue; the model's loop dispatches them by name.

A handler runs at an arbitrary point of the main thread, so it does nothing but put the signal
on the loop's queue and wake the loop (gunicorn does the same). `Model.handle_signal` then calls
`handle_term`, `handle_hup`, ... from the loop, where any work is safe.
"""

from __future__ import annotations

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

    def _queue(self, signum: int, frame) -> None:
        self._loop.call_soon_threadsafe(self._dispatch, signum)

    def restore(self) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        self._previous.clear()


def reset_to_defaults() -> None:
    """For a freshly forked child: drop the parent's handlers before anything else."""
    for signum in HANDLED:
        signal.signal(signum, signal.SIG_DFL)


def signal_name(signum: int) -> str:
    """'term' for SIGTERM: the suffix of the model's handle_* method."""
    return signal.Signals(signum).name[3:].lower()
