"""A stream transport's output queue: what is still to be sent, in order, and how it drains.

Entries are bytes, file ranges (`os.sendfile` where the socket allows it, read and sent
otherwise), producers (iterators pulled only as the socket drains) and callbacks (run once
everything queued before them is sent). A drain moves at most CHUNK bytes per entry, so one
client cannot starve the loop. The queue does no I/O of its own beyond sendfile: bytes go
through the transport's `send` (which encrypts once TLS has started).
"""

from __future__ import annotations

import errno
import os
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from .loop import EventLoop
from .tls import SEND_SIZE

CHUNK = 256 * 1024  # most bytes moved per entry per turn, so one client cannot starve the loop
BYTES = (bytes, bytearray, memoryview)

Done = Callable[[BaseException | None], None]


class FileRange:
    __slots__ = ("count", "file", "offset", "on_done", "use_sendfile")

    def __init__(self, file, offset: int, count: int, on_done: Done | None):
        self.file, self.offset, self.count, self.on_done = file, offset, count, on_done
        self.use_sendfile = hasattr(file, "fileno")


class Producer:
    __slots__ = ("exhausted", "iterator", "on_done", "pending")

    def __init__(self, iterator: Iterator[bytes], on_done: Done | None):
        self.iterator, self.on_done, self.pending = iterator, on_done, b""
        self.exhausted = False


class Callback:
    __slots__ = ("on_done",)

    def __init__(self, on_done: Done):
        self.on_done = on_done


_END = object()  # what a pulled iterator returns when it has nothing more


class ProducerFailed(Exception):
    """An iterator given to send_producer raised; the connection cannot be completed."""


class OutputQueue(deque):
    """The entries still to send, oldest first, and the drain that sends them.

    `send(data) -> int` sends (BlockingIOError when the socket is full), `call(fn, *args)`
    runs an entry's `on_done` as a protocol callback, `touch()` notes progress, `watch()`
    asks the transport to recompute what it waits for, `resume()` drains again once a chunk
    made off the loop is back and `failed(exc)` ends the connection when making it raised.
    """

    __slots__ = (
        "_call", "_failed", "_fd", "_loop", "_resume", "_send", "_touch", "_watch",
        "pulling", "secure",
    )  # fmt: skip

    def __init__(
        self,
        loop: EventLoop,
        fd: int,
        *,
        send: Callable[[Any], int],
        call: Callable[..., Any],
        touch: Callable[[], None],
        watch: Callable[[], None],
        resume: Callable[[], None],
        failed: Callable[[BaseException], None],
    ):
        super().__init__()
        self._loop, self._fd = loop, fd
        self._send, self._call, self._touch = send, call, touch
        self._watch, self._resume, self._failed = watch, resume, failed
        self.pulling = False  # a producer's next chunk is being made on the loop's executor
        self.secure = False  # TLS: sendfile would bypass the encryption, so files are copied

    def flush(self) -> None:
        """Send entries until the queue is empty or the socket is full."""
        while self:
            item = self[0]
            if isinstance(item, BYTES):
                if not self._send_bytes():
                    return
                continue
            if isinstance(item, FileRange) and not self._send_file(item):
                return
            if isinstance(item, Producer) and not self._pull(item):
                return
            self.popleft()
            if item.on_done:
                self._call(item.on_done, None)

    def discard(self, exc: BaseException) -> None:
        """The connection ended: drop every entry, telling each waiting callback why."""
        entries = list(self)
        self.clear()
        for item in entries:
            if not isinstance(item, BYTES) and item.on_done:
                self._call(item.on_done, exc)

    def _send_bytes(self) -> bool:
        """Send the leading run of byte chunks, joined; False if the socket filled up."""
        chunks = []
        size = 0
        while self and isinstance(self[0], BYTES) and size < CHUNK:
            chunk = self.popleft()
            chunks.append(chunk)
            size += len(chunk)
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        try:
            sent = self._send(data)
        except BlockingIOError:
            sent = 0
        if sent:
            self._touch()
        if sent < len(data):
            self.appendleft(memoryview(data)[sent:])
            return False
        return True

    def _send_file(self, item: FileRange) -> bool:
        """Send part of a file range; True when the whole range is sent."""
        while item.count > 0:
            size = min(item.count, CHUNK)
            try:
                sent = self._file_chunk(item, size)
            except BlockingIOError:
                return False
            if sent == 0:  # the file is shorter than promised: never pad, never hang
                raise OSError(errno.EIO, "file ended before the promised length")
            item.offset += sent
            item.count -= sent
            self._touch()
            if sent < size:
                return False
        return True

    def _file_chunk(self, item: FileRange, size: int) -> int:
        if self.secure:
            item.use_sendfile = False
            size = min(size, SEND_SIZE)
        if item.use_sendfile:
            try:
                return os.sendfile(self._fd, item.file.fileno(), item.offset, size)
            except OSError as exc:
                if exc.errno not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSOCK, errno.EOPNOTSUPP):
                    raise
                item.use_sendfile = False  # e.g. a pipe or a special file: copy instead
        item.file.seek(item.offset)
        data = item.file.read(size)
        if not data:
            return 0
        return self._send(data)

    def _pull(self, item: Producer) -> bool:
        """Pull and send chunks; True when the iterator is exhausted and all of it sent."""
        moved = 0
        while moved < CHUNK:
            if not item.pending:
                if item.exhausted:
                    return True
                if not self._loop.executor.inline:
                    self._pull_off_loop(item)
                    return False
                try:
                    item.pending = next(item.iterator)
                except StopIteration:
                    return True
                except (Exception, SystemExit) as exc:  # app code: sys.exit() is a bug too
                    raise ProducerFailed() from exc
                continue
            try:
                sent = self._send(item.pending)
            except BlockingIOError:
                return False
            self._touch()
            moved += sent
            item.pending = memoryview(item.pending)[sent:] if sent < len(item.pending) else b""
        self._watch()  # yield to other clients; resume on the next writable event
        return False

    def _pull_off_loop(self, item: Producer) -> None:
        """Make the next chunk on the executor's pool (application code, which may take its
        time between chunks); the loop goes on serving others, not watching for writability."""
        if not self.pulling:
            self.pulling = True
            self._watch()
            self._loop.executor.submit(lambda: next(item.iterator, _END), self._pulled)

    def _pulled(self, chunk, exc: BaseException | None) -> None:
        self.pulling = False
        if not self:  # the connection closed meanwhile (discard emptied the queue)
            return
        if exc is not None:
            self._failed(exc)
            return
        item = self[0]
        if chunk is _END:
            item.exhausted = True
        else:
            item.pending = chunk
        self._resume()
