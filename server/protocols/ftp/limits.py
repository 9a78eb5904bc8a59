"""Connection limits that hold across every process of one server (fork, prefork, threads).

A small table in an anonymous shared mapping, made before any fork, has one slot per allowed
connection: `(pid, process start time, peer address)`. A session claims a slot when it starts
and frees it when it ends; counting the total and the peer's share is a scan of the table under
a lock (a thread lock inside a process, `lockf` between processes -- released by the kernel if
the holder dies). A process killed without freeing its slots (SIGKILL) leaves stale slots: they
are reclaimed when the table looks full, by checking that the owner is alive and is the same
process (the start time guards against a recycled pid).
"""

from __future__ import annotations

import fcntl
import ipaddress
import mmap
import os
import struct
import tempfile
import threading

_SLOT = struct.Struct("=qq16s")  # pid, start time (clock ticks since boot), peer address
_lock = threading.Lock()


def _reset_lock() -> None:
    global _lock
    _lock = threading.Lock()  # a thread of the parent may have held it at fork time


os.register_at_fork(after_in_child=_reset_lock)


class LimitReached(Exception):
    """The connection would exceed a limit; the message is the 421 reply text."""


class ConnectionTable:
    """At most `total` connections, and at most `per_ip` (0: any number) from one address."""

    def __init__(self, total: int, per_ip: int = 0):
        self.total = total
        self.per_ip = per_ip
        self._map = mmap.mmap(-1, _SLOT.size * total)
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
                _SLOT.pack_into(self._map, slot * _SLOT.size, os.getpid(), _start_time(), key)
                return slot
            finally:
                fcntl.lockf(self._lockfd, fcntl.LOCK_UN)

    def release(self, slot: int) -> None:
        """Free a slot taken by `claim` (one write: no lock needed)."""
        _SLOT.pack_into(self._map, slot * _SLOT.size, 0, 0, b"")

    def count(self, host: str | None = None) -> int:
        """Connections open now, in total or from one address."""
        key = None if host is None else address_key(host)
        return sum(1 for pid, _, k in _SLOT.iter_unpack(self._map) if pid and key in (None, k))

    def _find(self, key: bytes) -> tuple[int, str]:
        """(a free slot, '') or (-1, why the connection must be refused)."""
        free, same = -1, 0
        for index, (pid, _, owner_key) in enumerate(_SLOT.iter_unpack(self._map)):
            if not pid:
                free = index if free < 0 else free
                continue
            same += owner_key == key
        if self.per_ip and same >= self.per_ip:
            return -1, f"Too many connections from your address (at most {self.per_ip})."
        if free < 0:
            return -1, f"Too many connections (at most {self.total}); try again later."
        return free, ""

    def _reclaim(self) -> bool:
        """Free the slots of processes that are gone; True if any was freed."""
        freed = False
        for index, (pid, started, _) in enumerate(_SLOT.iter_unpack(self._map)):
            if pid and not _alive(pid, started):
                self.release(index)
                freed = True
        return freed


def address_key(host: str) -> bytes:
    """16 bytes per address; IPv4 and its IPv6-mapped form share a key."""
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host.encode()[:16].ljust(16, b"\0")  # a Unix socket peer: all share one key
    if ip.version == 4:
        ip = ipaddress.IPv6Address(f"::ffff:{ip}")
    return ip.packed


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
