"""Connection limits that hold across every process of one server (fork, prefork, threads).

A shared table (server/sharedtable.py), made before any fork, has one row per allowed
connection: its owner process, and the peer's address as payload. A session claims a row when
it starts and frees it when it ends; counting the total and the peer's share is a scan of the
table under its lock. A process killed without freeing its rows (SIGKILL) leaves stale rows:
the table reclaims them when it looks full (their owner is gone, or its pid was recycled).
"""

from __future__ import annotations

import socket

from ...sharedtable import SharedTable

_KEY = 16  # bytes of a peer address (IPv4 as IPv6-mapped)


class LimitReached(Exception):
    """The connection would exceed a limit; the message is the 421 reply text."""


class ConnectionTable:
    """At most `total` connections, and at most `per_ip` (0: any number) from one address.

    One shared table row per slot, the peer's address its payload. A slot is taken while its
    owner pid is not 0; the pid column alone answers "how many" (one C-level scan).
    """

    def __init__(self, total: int, per_ip: int = 0):
        self.total = total
        self.per_ip = per_ip
        self._table = SharedTable(total, _KEY)
        self._pids = self._table.pids
        self._keys = self._table.payload

    def claim(self, host: str) -> int:
        """Take a slot for a connection from `host`; LimitReached if a limit is met."""
        key = address_key(host)
        with self._table.locked():
            slot, refusal = self._find(key)
            if refusal and self._table.reclaim(self._clear):
                slot, refusal = self._find(key)
            if refusal:
                raise LimitReached(refusal)
            self._keys[slot * _KEY : (slot + 1) * _KEY] = key
            self._table.own(slot)
            return slot

    def release(self, slot: int) -> None:
        """Free a slot taken by `claim`. No lock: only the owner writes a taken slot, and the
        address is cleared before the pid, so the slot is never reused half-cleared."""
        self._clear(slot)
        self._table.release(slot)

    def _clear(self, slot: int) -> None:
        self._keys[slot * _KEY : slot * _KEY + _KEY] = bytes(_KEY)

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


def address_key(host: str) -> bytes:
    """16 bytes per address; IPv4 and its IPv6-mapped form share a key."""
    host = host.split("%", 1)[0]
    try:
        packed = socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
    except OSError:
        return host.encode()[:_KEY].ljust(_KEY, b"\0")  # a Unix socket peer: all share one key
    return packed if len(packed) == _KEY else b"\0" * 10 + b"\xff\xff" + packed
