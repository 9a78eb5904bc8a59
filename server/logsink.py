"""Log lines written without ever blocking the server.

A container's stdout and stderr are pipes that containerd and dockerd drain at their own pace;
`journald` and `| tee` are the same. A plain `write` to a full pipe blocks, and an event loop
that blocks on a log line stalls every client it serves. A `LineSink` writes on a descriptor of
its own in non-blocking mode (on Linux, `/proc/self/fd/N` opened again is a new open file
description, so the flag does not leak to other writers of the same pipe). What the pipe does
not take waits in a bounded backlog, sent by a short-lived thread as the pipe drains; past the
bound, whole lines are dropped and counted in `server_log_lines_dropped_total{sink}`.

Regular files and terminals never block for long, so they are written as before; so are
sockets (journald's stdout), which cannot be opened again through /proc.
"""

from __future__ import annotations

import atexit
import os
import select
import stat
import threading

from .metrics import METRICS

BACKLOG_LIMIT = 1 << 20  # bytes held for a slow reader before whole lines are dropped
FLUSH_AT_EXIT = 1.0  # seconds a process leaving spends on what is still held

METRICS.counter(
    "server_log_lines_dropped_total",
    "Log lines dropped because their pipe was full and the backlog too",
    label="sink",
    values=("access", "log"),
)


class LineSink:
    """Whole lines to one descriptor; `write` returns at once whatever the reader does."""

    def __init__(self, fd: int, name: str, limit: int = BACKLOG_LIMIT):
        self.name = name
        self.limit = limit
        self.fd = _nonblocking_twin(fd)
        self._backlog = bytearray()
        self._lock = threading.Lock()
        self._flushing = False
        os.register_at_fork(after_in_child=self._forked)
        _SINKS.append(self)

    def write(self, line: bytes) -> None:
        with self._lock:
            if self._backlog:
                self._hold(line)
                return
            sent = self._send(line)
            if sent < len(line):
                # the rest of a line whose start is out must follow it, bound or not
                self._backlog += line[sent:]
                self._start_flusher()

    def flush(self, timeout: float = FLUSH_AT_EXIT) -> None:
        """Send what is held, waiting at most `timeout` for the reader (a process leaving)."""
        waiter = select.poll()
        waiter.register(self.fd, select.POLLOUT)
        with self._lock:
            while self._backlog and waiter.poll(timeout * 1000):
                del self._backlog[: self._send(self._backlog)]

    def _send(self, data) -> int:
        try:
            return os.write(self.fd, data)
        except BlockingIOError:
            return 0
        except OSError:  # the reader is gone or the disk is full: the line is lost
            METRICS.add("server_log_lines_dropped_total", label=self.name)
            return len(data)

    def _hold(self, line: bytes) -> None:
        if len(self._backlog) + len(line) > self.limit:
            METRICS.add("server_log_lines_dropped_total", label=self.name)
            return
        self._backlog += line

    def _start_flusher(self) -> None:
        if not self._flushing:
            self._flushing = True
            threading.Thread(target=self._drain, name=f"log-{self.name}", daemon=True).start()

    def _drain(self) -> None:
        """Until the backlog is empty: wait for room in the pipe, send what fits."""
        waiter = select.poll()
        waiter.register(self.fd, select.POLLOUT)
        while True:
            waiter.poll(1000)
            with self._lock:
                del self._backlog[: self._send(self._backlog)]
                if not self._backlog:
                    self._flushing = False
                    return

    def _forked(self) -> None:
        """A new child holds no flusher thread and must not send its parent's backlog twice."""
        self._lock = threading.Lock()
        self._backlog = bytearray()
        self._flushing = False


_SINKS: list[LineSink] = []


@atexit.register
def flush_all() -> None:
    """Send what every sink holds (bounded by FLUSH_AT_EXIT each): a process is leaving."""
    for sink in _SINKS:
        sink.flush()


def exit_process(status: int) -> None:
    """os._exit for a forked child, after its held log lines are out (atexit does not run)."""
    try:
        flush_all()
    finally:
        os._exit(status)


def _nonblocking_twin(fd: int) -> int:
    """A descriptor for the same pipe on which writes never block; `fd` itself for anything
    else (and where /proc is missing: a blocking write is late, not lost)."""
    if not stat.S_ISFIFO(os.fstat(fd).st_mode):
        return fd
    try:
        return os.open(f"/proc/self/fd/{fd}", os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return fd
