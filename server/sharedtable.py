"""Rows owned by processes, in shared memory made before any fork: one table, two users.

Metrics (one row of counters per process) and FTP's connection limits (one row per open
connection) both need the same thing: rows that outlive a fork, each marked with the process
that owns it, a lock that holds between processes, and a way to take back the rows of a
process that died without giving them up (SIGKILL, a crash).

Layout, in one anonymous shared mapping: the owners' pids, the owners' start times, then
`row_bytes` of payload per row for the user to lay out. A row is taken while its pid is not 0;
the pid is written last, so a row counts only once it is complete.

An owner is alive when its pid exists *and* started when the row says: pids are recycled, and
a new process with a dead owner's pid must not keep the old rows (the start time, in clock
ticks since boot from /proc, tells them apart; where /proc is missing only the pid is checked).

Locking: `locked()` takes a thread lock (new in every child: a parent's thread may have held it
at fork time) and `lockf` on a shared descriptor (released by the kernel if its holder dies).
"""

from __future__ import annotations

import fcntl
import mmap
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class SharedTable:
    """`rows` rows of `row_bytes` each, with owner columns; make it before forking."""

    def __init__(self, rows: int, row_bytes: int):
        self.rows = rows
        self._map = mmap.mmap(-1, rows * (8 + 8 + row_bytes))
        view = memoryview(self._map)
        self.pids = view[: 8 * rows].cast("q")
        self._starts = view[8 * rows : 16 * rows].cast("q")
        #: The rows' payload, `row_bytes` each, one after the other.
        self.payload = view[16 * rows :]
        fd, path = tempfile.mkstemp(prefix="server-table-")
        os.unlink(path)  # only the descriptor is needed, for lockf between processes
        self._lockfd = fd
        self._lock = threading.Lock()
        os.register_at_fork(after_in_child=self._forked)

    def _forked(self) -> None:
        self._lock = threading.Lock()

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive across the threads and processes of this server."""
        with self._lock:
            fcntl.lockf(self._lockfd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.lockf(self._lockfd, fcntl.LOCK_UN)

    # -- ownership (under locked(), except release by the owner) ----------------------------
    def own(self, row: int) -> None:
        """Mark `row` as this process's."""
        self._starts[row] = start_time()
        self.pids[row] = os.getpid()  # last: the row counts once it is complete

    def release(self, row: int) -> None:
        """Give `row` up (its owner may do this without the lock: only it writes the row)."""
        self.pids[row] = 0

    def alive(self, row: int) -> bool:
        """Whether the row's owner is still the process that took it."""
        pid = self.pids[row]
        return pid > 0 and _alive(pid, self._starts[row])

    def claim(self, first: int = 0, reuse: Callable[[int], None] | None = None) -> int:
        """Own the first row from `first` that is free or whose owner died (`reuse(row)` is
        called on such a row first); -1 when every row is held by a live process."""
        with self.locked():
            for row in range(first, self.rows):
                pid = self.pids[row]
                if pid == 0 or (pid > 0 and not _alive(pid, self._starts[row])):
                    if pid and reuse is not None:
                        reuse(row)
                    self.own(row)
                    return row
        return -1

    def reclaim(self, reuse: Callable[[int], None]) -> bool:
        """Free every row whose owner died, calling `reuse(row)` first; True if any was."""
        freed = False
        for row, pid in enumerate(self.pids.tolist()):
            if pid > 0 and not _alive(pid, self._starts[row]):
                reuse(row)
                self.release(row)
                freed = True
        return freed


_own: tuple[int, int] = (0, 0)  # (pid, its start time), cached: a process asks often


def start_time(pid: int | None = None) -> int:
    """When a process started (clock ticks since boot, from /proc); 0 where unknown."""
    global _own
    own = pid is None
    pid = os.getpid() if own else pid
    if own and _own[0] == pid:
        return _own[1]
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            ticks = int(f.read().rsplit(b")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        ticks = 0
    if own:
        _own = (pid, ticks)
    return ticks


def _alive(pid: int, started: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return not started or start_time(pid) in (0, started)
