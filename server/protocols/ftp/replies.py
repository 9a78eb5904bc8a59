"""FTP replies: the error a handler raises to answer, and the bytes a reply is sent as."""

from __future__ import annotations

import errno

from ...errors import ProtocolError

ENCODING = "utf-8"
#: Undecodable bytes in names survive the round trip (RFC 2640 asks for UTF-8, disks may differ).
ERRORS = "surrogateescape"

_STORAGE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_REASONS = {
    errno.ENOENT: "No such file or directory",
    errno.EACCES: "Permission denied",
    errno.EPERM: "Operation not permitted",
    errno.EISDIR: "Is a directory",
    errno.ENOTDIR: "Not a directory",
    errno.EEXIST: "File exists",
    errno.ENOTEMPTY: "Directory not empty",
    errno.ENAMETOOLONG: "File name too long",
    errno.ELOOP: "Too many levels of symbolic links",
    errno.EXDEV: "Cannot move across file systems",
}


class FTPReply(ProtocolError):
    """Raised by a command handler (or the gate): this is the command's final reply."""

    def __init__(self, code: int, text: str):
        super().__init__(f"{code} {text}")
        self.code = code
        self.text = text


def encode(code: int, text: str) -> bytes:
    """One single-line reply."""
    return f"{code} {text}\r\n".encode(ENCODING, ERRORS)


def encode_lines(code: int, first: str, lines, last: str) -> bytes:
    """A multi-line reply: `code-first`, the lines, `code last` (RFC 959 4.2)."""
    # Inner lines must not look like a final line; a leading space guarantees it.
    body = "".join(f" {line}\r\n" for line in lines)
    return f"{code}-{first}\r\n{body}{code} {last}\r\n".encode(ENCODING, ERRORS)


def quote(path: str) -> str:
    """A path inside a 257 reply: in double quotes, inner quotes doubled (RFC 959)."""
    return '"' + path.replace('"', '""') + '"'


def os_error(exc: OSError, path: str = "") -> FTPReply:
    """The reply for a failed file operation: 452 when storage ran out, else 550."""
    reason = _REASONS.get(exc.errno or 0) or exc.strerror or "Operation failed"
    if exc.errno in _STORAGE:
        return FTPReply(452, f"Insufficient storage space: {reason}.")
    return FTPReply(550, f"{path}: {reason}." if path else f"{reason}.")


def is_storage_error(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in _STORAGE
