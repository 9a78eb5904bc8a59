"""Connection limits that hold across every process of one server (fork, prefork, threads).

A small table in an anonymous shared mapping, made before any fork, has one slot per allowed
connection: its owner's pid and start time, and the peer's address. A session claims a slot
when it starts and frees it when it ends; counting the total and the peer's share is a scan of
the table under a lock (a thread lock inside a process, `lockf` between processes -- released
by the kernel if the holder dies). A process killed without freeing its slots (SIGKILL) leaves
stale slots: they are reclaimed when the table looks full, by checking that the owner is alive
and is the same process (the start time guards against a recycled pid).
"""

from __future__ import annotations

import fcntl
import mmap
import os
import socket
import tempfile
import threading

_KEY = 16  # bytes of a peer address (IPv4 as IPv6-mapped)
_lock = threading.Lock()


def _reset_lock() -> None:
    global _lock
    _lock = threading.Lock()  # a thread of the parent may have held it at fork time


os.register_at_fork(after_in_child=_reset_lock)


class LimitReached(Exception):
    """The connection would exceed a limit; the message is the 421 reply text."""


class ConnectionTable:
    """At most `total` connections, and at most `per_ip` (0: any number) from one address.

    Three columns in one shared mapping: owner pids, owner start times, peer addresses. A slot
    is taken while its pid is not 0; the pid column alone answers "how many" (one C-level scan).
    """

    def __init__(self, total: int, per_ip: int = 0):
        self.total = total
        self.per_ip = per_ip
        self._map = mmap.mmap(-1, total * (8 + 8 + _KEY))
        view = memoryview(self._map)
        self._pids = view[: 8 * total].cast("q")
        self._starts = view[8 * total : 16 * total].cast("q")
        self._keys = view[16 * total :]
        fd, path = tempfile.mkstemp(prefix="server-ftp-limits-")
        os.unlink(path)  # only the descriptor is needed, for lockf between processes
        self._lockfd = fd

    def claim(self, host: str) -> int:
        """Take a slot for a connection from `host`; LimitReached if a limit is met."""
        key = address_key(host)
        with _lock:
            fcntl.lockf(self._lockfd, fcntl.LOCK_EX)
            try:
                slot, refusal = self._find(key)
                if refusal and self._reclaim():
                    slot, refusal = self._find(key)
                if refusal:
                    raise LimitReached(refusal)
                self._keys[slot * _KEY : (slot + 1) * _KEY] = key
                self._starts[slot] = _start_time()
                self._pids[slot] = os.getpid()  # last: the slot counts once it is complete
                return slot
            finally:
                fcntl.lockf(self._lockfd, fcntl.LOCK_UN)

    def release(self, slot: int) -> None:
        """Free a slot taken by `claim`. No lock: only the owner writes a taken slot, and the
        address is cleared before the pid, so the slot is never reused half-cleared."""
        self._keys[slot * _KEY : slot * _KEY + _KEY] = bytes(_KEY)
        self._pids[slot] = 0

    def count(self, host: str | None = None) -> int:
        """Connections open now, in total or from one address."""
        pids = self._pids.tolist()
        if host is None:
            return len(pids) - pids.count(0)
        return self._same(pids, address_key(host))

    def _same(self, pids: list[int], key: bytes) -> int:
        """Taken slots whose peer is `key` (found by C-level search, checked for alignment)."""
        keys = self._keys.tobytes()
        count, at = 0, keys.find(key)
        while at >= 0:
            if at % _KEY == 0 and pids[at // _KEY]:
                count += 1
            at = keys.find(key, at + 1)
        return count

    def _find(self, key: bytes) -> tuple[int, str]:
        """(a free slot, '') or (-1, why the connection must be refused)."""
        pids = self._pids.tolist()
        if self.per_ip and self._same(pids, key) >= self.per_ip:
            return -1, f"Too many connections from your address (at most {self.per_ip})."
        try:
            return pids.index(0), ""
        except ValueError:
            return -1, f"Too many connections (at most {self.total}); try again later."

    def _reclaim(self) -> bool:
        """Free the slots of processes that are gone; True if any was freed."""
        freed = False
        for slot, pid in enumerate(self._pids.tolist()):
            if pid and not _alive(pid, self._starts[slot]):
                self.release(slot)
                freed = True
        return freed


def address_key(host: str) -> bytes:
    """16 bytes per address; IPv4 and its IPv6-mapped form share a key."""
    host = host.split("%", 1)[0]
    try:
        packed = socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
    except OSError:
        return host.encode()[:_KEY].ljust(_KEY, b"\0")  # a Unix socket peer: all share one key
    return packed if len(packed) == _KEY else b"\0" * 10 + b"\xff\xff" + packed


_start: tuple[int, int] = (0, 0)


def _start_time(pid: int | None = None) -> int:
    """When a process started (clock ticks since boot, from /proc); 0 where unknown."""
    global _start
    own = pid is None
    pid = os.getpid() if own else pid
    if own and _start[0] == pid:
        return _start[1]
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            ticks = int(f.read().rsplit(b")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        ticks = 0
    if own:
        _start = (pid, ticks)
    return ticks


def _alive(pid: int, started: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return not started or _start_time(pid) in (0, started)
