"""Request bodies: held in memory while small, spooled to a temporary file past a size."""

from __future__ import annotations

import io
import tempfile
from typing import Any

from .errors import PayloadTooLarge

SPOOL = 1024 * 1024


class BodySink:
    """Collects a body as it arrives, bounded by `limit` (413 past it)."""

    __slots__ = ("file", "limit", "parts", "size", "spool")

    def __init__(self, limit: int, spool: int = SPOOL):
        self.limit = limit
        self.spool = spool
        self.parts: list[bytes] = []
        self.size = 0
        self.file: Any = None

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise PayloadTooLarge(f"request body is larger than {self.limit} bytes")
        if self.file is not None:
            self.file.write(data)
            return
        self.parts.append(data)
        if self.size > self.spool:
            self.file = tempfile.TemporaryFile(prefix="server-body-")  # noqa: SIM115
            self.file.writelines(self.parts)
            self.parts = []

    def finish(self) -> Any:
        """The whole body as a binary file positioned at its start."""
        if self.file is not None:
            self.file.seek(0)
            return self.file
        return io.BytesIO(b"".join(self.parts))

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
