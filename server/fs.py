"""The jail: virtual paths under a root <-> real paths, refusing anything that escapes.

HTTP's static files and FTP's library both go through here, so a traversal fix is made once.
A virtual path is POSIX-style and absolute inside the jail ("/docs/a.txt"). Resolution
normalises it first (so "/../x" is "/x", never above the root), then resolves symlinks with
realpath and checks the result is still under the real root.
"""

from __future__ import annotations

import os
import posixpath

from .errors import ServerError


class PathRefused(ServerError):
    """The path is malformed or resolves outside the root."""


def located(fd: int) -> str:
    """Where an open file is now, read back from the kernel; OSError where there is no /proc."""
    return os.readlink(f"/proc/self/fd/{fd}")


class Jail:
    """One root folder; every path handed out is inside it."""

    def __init__(self, root: str):
        self.root = os.path.realpath(root)
        if not os.path.isdir(self.root):
            raise PathRefused(f"root {root!r} is not a folder")

    def virtual(self, path: str, cwd: str = "/") -> str:
        """Normalise `path` (relative to the virtual `cwd`) to an absolute virtual path."""
        if "\0" in path:
            raise PathRefused("path contains a NUL byte")
        if "\\" in path:  # never let a client smuggle a separator this platform may honour
            path = path.replace("\\", "/")
        joined = posixpath.join(cwd, path)
        normal = posixpath.normpath("/" + joined.lstrip("/"))
        return "/" if normal in ("/", "//") else normal.replace("//", "/")

    def real(self, path: str, cwd: str = "/") -> str:
        """The real path of a virtual one; PathRefused if a symlink leads outside the root."""
        virtual = self.virtual(path, cwd)
        real = os.path.realpath(os.path.join(self.root, virtual.lstrip("/")))
        if not self.contains(real):
            raise PathRefused(f"{virtual} leads outside the root")
        return real

    def open(self, path: str, cwd: str = "/", flags: int = os.O_RDONLY) -> tuple[int, str]:
        """Open a virtual path: (descriptor, real path), checked on what was actually opened.

        The kernel resolves the path once, in open(); the real path is then read back from the
        descriptor (/proc/self/fd), so a symlink swapped in between cannot lead outside the root,
        and no lstat per path component is spent. Without /proc it falls back to realpath.
        OSError (missing, not permitted) propagates; PathRefused if it is outside the root.
        """
        virtual = self.virtual(path, cwd)
        fd = os.open(os.path.join(self.root, virtual.lstrip("/")), flags | os.O_CLOEXEC)
        try:
            real = located(fd)
        except OSError:
            real = os.path.realpath(os.path.join(self.root, virtual.lstrip("/")))
        if not self.contains(real):
            os.close(fd)
            raise PathRefused(f"{virtual} leads outside the root")
        return fd, real

    def entry(self, path: str, cwd: str = "/") -> str:
        """The real path of a directory entry itself: its folder resolved, its name not.

        For acting on a name rather than on what it points to (delete, rename, create, lstat):
        deleting a symlink must remove the link, never its target. The root is its own entry.
        """
        virtual = self.virtual(path, cwd)
        if virtual == "/":
            return self.root
        folder, name = posixpath.split(virtual)
        return os.path.join(self.real(folder), name)

    def contains(self, real: str) -> bool:
        return real == self.root or real.startswith(self.root.rstrip(os.sep) + os.sep)

    def to_virtual(self, real: str) -> str:
        """The virtual path of a real path inside the root."""
        if not self.contains(real):
            raise PathRefused("path is outside the root")
        rest = os.path.relpath(real, self.root)
        return "/" if rest == "." else "/" + rest.replace(os.sep, "/")
