"""Logging set-up: one line per record on stderr, tracebacks folded onto that line.

A server logs through a `LineSink` (server/logsink.py): a full stderr pipe drops lines, counted,
instead of stalling the loop that logs. Tools (probe, ftp-user) write plainly.
"""

import logging
import os
import sys

LEVELS = ("debug", "info", "warning", "error", "critical")


class OneLineFormatter(logging.Formatter):
    """Folds multi-line messages and tracebacks so every record is exactly one line."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return text.replace("\r", "\\r").replace("\n", " \\n ")

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.pid = os.getpid()
        return super().formatMessage(record)


class SinkHandler(logging.Handler):
    """Each record as one line to a LineSink, which never blocks."""

    def __init__(self, sink):
        super().__init__()
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.sink.write((self.format(record) + "\n").encode("utf-8", "replace"))
        except Exception:
            self.handleError(record)


def configure(level: str = "info", stream=None, nonblocking: bool = False) -> None:
    """Install the one-line handler on the root logger (idempotent); `nonblocking`: through a
    LineSink on stderr, for servers."""
    if nonblocking:
        from .logsink import LineSink  # servers only: it loads the metrics

        handler: logging.Handler = SinkHandler(LineSink(sys.stderr.fileno(), "log"))
    else:
        handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        OneLineFormatter("%(asctime)s %(levelname)s [%(pid)d] %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
