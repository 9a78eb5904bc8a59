"""Logging set-up: one line per record on stderr, tracebacks folded onto that line."""

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


def configure(level: str = "info", stream=None) -> None:
    """Install the one-line handler on the root logger (idempotent)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        OneLineFormatter("%(asctime)s %(levelname)s [%(pid)d] %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
