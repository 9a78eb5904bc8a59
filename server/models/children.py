"""Child processes: signal them without racing their exit, reap them without blocking."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable, Iterator


def kill(pid: int, signum: int) -> None:
    """Send a signal; a child that has already exited is not an error."""
    try:
        os.kill(pid, signum)
    except OSError as exc:
        if exc.errno != errno.ESRCH:
            raise


def reap_exited() -> Iterator[tuple[int, int]]:
    """Yield (pid, wait status) for every child that has exited, without blocking."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        yield pid, status


def kill_and_reap(pids: Iterable[int]) -> None:
    """SIGKILL and wait for each child, so none is left running or as a zombie."""
    pids = list(pids)
    for pid in pids:
        kill(pid, 9)
    for pid in pids:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
