"""A bounded cache of small static files: their bytes, validators and headers.

A repeat GET of an unchanged small file at the top of the root costs one `os.stat` of its path
(plus one per folder between it and the root) instead of open, the jail's readlink, fstat,
pread and close, and none of the header building. Freshness is checked on every use, never by
age: each stat must show the same inode (st_dev, st_ino) with the same st_size, st_mtime_ns
and st_ctime_ns as when the file was verified. Writing the file (even with the same size),
renaming another over it, deleting it, chmod, a new hard link, renaming a folder on the way or
adding or removing a name in one all change one of them: the entry is dropped and the request
takes the full path, jail check included.

Why that is safe (TOCTOU). An entry is made only for a path with no symlink in it: the folders
are stat'ed first, then the open descriptor's location is read back from the kernel and must
be exactly root + path. So at that moment every folder stat'ed was where the path names it,
inside the root, and the file was in the last one. A hit means every one of those inodes is
still unchanged -- none renamed (a rename changes the moved inode's ctime), the file neither
unlinked nor linked elsewhere -- so the walk still ends at the same file in the same folders
inside the root, and what is sent are the bytes read from it then: nothing is read from the
disk after the check, so a swap between the check and the send cannot bring other bytes in.
(What the stats cannot see: a second name for the file made before it was cached, a hard link
or bind mount outside the root; its bytes were servable from inside the root anyway. The root
itself is not checked: it is the server's configuration, not a request's path.)

A file changed within the file system's timestamp granularity after we read it could keep the
same times ("racy git"). So an entry is kept only when every ctime is `settle_ns` older than
the clock: any later change then carries a newer one. (A user cannot set ctime: `touch -d` sets
mtime back and ctime to now.) Recently changed files are served from the disk until they
settle. This assumes file times come from our clock (local file systems).
"""

from __future__ import annotations

import operator
import os
import threading
import time
from collections.abc import Callable

from .response import encode_fields

MAX_ENTRIES = 1024
MAX_BYTES = 8 * 1024 * 1024  # bodies and paths together
SETTLE_NS = 2_000_000_000  # FAT keeps mtime to 2 s, ext3 to 1 s; most others to a clock tick

Identity = tuple[int, int, int, int, int]
Checks = tuple[tuple[str, Identity], ...]  # (file system path, identity): folders, then the file


#: identity(stat result): what must not have changed for what was verified of a file or folder
#: to still hold. An attrgetter: its tuple is made in C, with no frame for each stat checked.
identity: Callable[[os.stat_result], Identity] = operator.attrgetter(
    "st_ino", "st_dev", "st_size", "st_mtime_ns", "st_ctime_ns"
)


class StaticFile:
    """One regular file as served: validators, headers and, when small, all its bytes."""

    __slots__ = ("body", "etag", "fields", "headers", "identity", "mtime", "size", "validators")

    def __init__(
        self,
        info: os.stat_result,
        etag: str,
        validators: tuple[tuple[str, str], ...],
        headers: tuple[tuple[str, str], ...],
        body: bytes | None,
    ):
        self.identity = identity(info)
        self.size = info.st_size
        self.mtime = info.st_mtime
        self.etag, self.validators, self.headers, self.body = etag, validators, headers, body
        # the whole file's 200 sends these lines as they are (checked and encoded once)
        self.fields = encode_fields(headers) if body is not None else ""


class FileCache:
    """Files by the path they were asked by, each with the stats that prove it unchanged.

    Thread-safe: a lookup is one dict.get (atomic under the GIL) of an entry never modified
    once made; stores, drops and evictions take a lock so the byte count and the iteration
    over the oldest entries stay consistent. Under prefork each process has its own copy.
    Eviction is first in, first out once `max_entries` or `max_bytes` would be passed.
    """

    def __init__(
        self, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES, settle_ns: int = SETTLE_NS
    ):
        self.max_entries, self.max_bytes, self.settle_ns = max_entries, max_bytes, settle_ns
        self._entries: dict[str, tuple[Checks, StaticFile, int]] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def bytes(self) -> int:
        return self._bytes

    def get(self, key: str) -> StaticFile | None:
        """The file cached under `key` if every folder on its path and the file are unchanged."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        try:
            for path, expected in entry[0]:
                if identity(os.stat(path)) != expected:
                    break
            else:
                return entry[1]
        except OSError:  # deleted, or a folder on the way is no longer one or not ours to see
            pass
        self._drop(key, entry)
        return None

    def keep(self, key: str, folders: Checks, target: str, file: StaticFile) -> None:
        """Cache `file`, read from the file system path `target`, under `key`, if it fits and
        has settled; the caller has verified it (see the module's docstring)."""
        body = file.body
        if body is None or len(body) != file.size:
            return  # large (not read: sent from the file), or it changed size while read
        checks = (*folders, (target, file.identity))
        newest = max(ident[4] for _, ident in checks)
        if time.time_ns() - newest < self.settle_ns:
            return  # changed too recently for its times to tell a later change apart
        cost = len(body) + len(key) + sum(len(path) for path, _ in checks)
        if cost > self.max_bytes or self.max_entries < 1:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old[2]
            while self._entries and (
                len(self._entries) >= self.max_entries or self._bytes + cost > self.max_bytes
            ):
                self._bytes -= self._entries.pop(next(iter(self._entries)))[2]
            self._entries[key] = (checks, file, cost)
            self._bytes += cost

    def _drop(self, key: str, entry: tuple[Checks, StaticFile, int]) -> None:
        with self._lock:
            if self._entries.get(key) is entry:  # not a fresher one another thread stored
                del self._entries[key]
                self._bytes -= entry[2]
