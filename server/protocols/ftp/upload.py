"""Atomic uploads: bytes go to a temporary file beside the target, renamed over it when complete.

A reader never sees half a file, and an aborted, failed or disk-full upload leaves the previous
file as it was and no temporary file behind. A resumed upload (REST + STOR) or an append (APPE)
starts its temporary file with a copy of the kept part of the old one, made in the kernel.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat

TEMP_PREFIX = ".ftp-upload-"
COPY_STEP = 64 * 1024 * 1024  # bytes copied per loop turn while preparing a resumed upload


class UploadFile:
    """A file being received for `target` (a real path whose folder exists)."""

    def __init__(self, target: str, keep: int = 0):
        self.target = target
        self.keep = keep
        self.copied = 0
        self.folder = os.path.dirname(target)
        self.fd, self.tmp = self._create()
        self._source: int | None = None
        try:
            self._adopt_mode()
        except BaseException:
            self.discard()
            raise

    def _create(self) -> tuple[int, str]:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        while True:
            tmp = os.path.join(self.folder, TEMP_PREFIX + secrets.token_hex(8))
            try:
                return os.open(tmp, flags, 0o666), tmp  # the umask applies, as for any new file
            except FileExistsError:
                continue

    def _adopt_mode(self) -> None:
        """Replacing a file keeps its permission bits; a kept part means opening the old file."""
        try:
            st = os.stat(self.target)
        except FileNotFoundError:
            return
        if stat.S_ISREG(st.st_mode):
            os.fchmod(self.fd, stat.S_IMODE(st.st_mode))
        if self.keep:
            self._source = os.open(self.target, os.O_RDONLY | os.O_CLOEXEC)

    def copy_some(self) -> bool:
        """Copy the next piece of the kept part; True while more remains."""
        left = min(self.keep - self.copied, COPY_STEP)
        if left <= 0:
            self._close_source()
            return False
        try:
            moved = os.copy_file_range(self._source, self.fd, left, self.copied, self.copied)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                raise
            data = os.pread(self._source, min(left, 1 << 20), self.copied)
            moved = self.write(data) if data else 0
        if moved == 0:
            raise OSError(errno.EIO, "the file shrank while its kept part was copied")
        self.copied += moved
        os.lseek(self.fd, self.copied, os.SEEK_SET)
        return True

    def write(self, data: bytes) -> int:
        """Append all of `data` (OSError, e.g. ENOSPC, if the disk refuses)."""
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]
        return len(data)

    def commit(self) -> None:
        """Put the complete file in place of the target."""
        fd, self.fd = self.fd, -1
        os.close(fd)  # a late ENOSPC (network file systems) surfaces here, before the rename
        os.replace(self.tmp, self.target)
        self.tmp = ""

    def discard(self) -> None:
        """Drop the temporary file; the target is untouched. Safe to call more than once."""
        self._close_source()
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if self.tmp:
            try:
                os.unlink(self.tmp)
            except FileNotFoundError:
                pass
            self.tmp = ""

    def _close_source(self) -> None:
        if self._source is not None:
            os.close(self._source)
            self._source = None
