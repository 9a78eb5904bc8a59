"""Static files under --root: GET and HEAD, conditional requests, single ranges, listings.

Every path goes through the jail (server/fs.py): a `..` segment (however it was encoded), a
NUL, a backslash or a symlink that leads out of the root is refused with 403 before the disk
is touched; a path that does not exist is 404. Small files are read and sent with their head
in one write; larger ones go out with os.sendfile.
"""

from __future__ import annotations

import mimetypes
import os
import stat
from email.utils import formatdate

from ...fs import Jail, PathRefused
from .errors import Forbidden, MethodNotAllowed, NotFound
from .listing import listing_page
from .request import Request
from .response import Response
from .validators import (
    UNSATISFIABLE,
    if_range_allows,
    make_etag,
    not_modified,
    parse_range,
)

SMALL_FILE = 64 * 1024  # read and sent with the head; larger: sendfile
INDEX = "index.html"
_CHARSET_TYPES = ("application/javascript", "application/json", "image/svg+xml")


class _Opened:
    """A file or folder opened inside the jail; whoever takes `fd` must close it."""

    __slots__ = ("fd", "info", "real")

    def __init__(self, fd: int, real: str, info: os.stat_result):
        self.fd, self.real, self.info = fd, real, info

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.info.st_mode)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class StaticFiles:
    def __init__(self, root: str, listing: bool = False):
        self.jail = Jail(root)
        self.listing = listing
        self._types: dict[str, str] = {}
        self._dates: dict[int, str] = {}

    def respond(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            raise MethodNotAllowed(f"{request.method} is not allowed on static files")
        opened = self._open(request.path)
        if opened.is_dir:
            opened.close()
            return self._directory(request, opened.real)
        return self._file(request, opened)

    def respond_if_file(self, request: Request) -> Response | None:
        """The answer when the path names a file or a folder we can show, else None."""
        try:
            opened = self._open(request.path)
        except NotFound:
            return None
        if opened.is_dir:
            opened.close()
            try:
                return self._directory(request, opened.real)
            except Forbidden:  # no index and no listing: the app may know the path
                return None
        return self._file(request, opened)

    # -- resolution ---------------------------------------------------------------------------
    def _open(self, path: str) -> _Opened:
        """Open a regular file or folder inside the root; Forbidden or NotFound otherwise."""
        if "\0" in path or "\\" in path or ".." in path.split("/"):
            raise Forbidden("path leads outside the root")
        try:
            # O_NONBLOCK: opening a FIFO someone left in the root must not hang the server
            fd, real = self.jail.open(path, flags=os.O_RDONLY | os.O_NONBLOCK)
        except PathRefused:
            raise Forbidden("path leads outside the root") from None
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"{path} does not exist") from None
        except OSError:
            raise Forbidden(f"{path} cannot be opened") from None
        opened = _Opened(fd, real, os.fstat(fd))
        if not (opened.is_dir or stat.S_ISREG(opened.info.st_mode)):
            opened.close()
            raise Forbidden(f"{path} is not a regular file")
        return opened

    def _directory(self, request: Request, real: str) -> Response:
        if not request.raw_path.endswith("/"):
            location = request.raw_path + "/"
            if request.query_string:
                location += "?" + request.query_string
            return Response(f"moved to {location}\n", 301, [("Location", location)])
        try:
            index = self._open(request.path + INDEX)
        except NotFound:
            index = None
        if index is not None and not index.is_dir:
            return self._file(request, index)
        if index is not None:
            index.close()
        if not self.listing:
            raise Forbidden("directory listing is off")
        body = listing_page(request.path, self.jail, real)
        return Response(body, 200, [("Cache-Control", "no-cache")], "text/html; charset=utf-8")

    # -- files --------------------------------------------------------------------------------
    def _file(self, request: Request, opened: _Opened) -> Response:
        """The answer for an open file; the descriptor is closed or handed to the response."""
        try:
            return self._answer(request, opened)
        finally:
            opened.close()  # a no-op once a response has taken the descriptor

    def _answer(self, request: Request, opened: _Opened) -> Response:
        info = opened.info
        etag = make_etag(info.st_mtime_ns, info.st_size)
        validators = [("ETag", etag), ("Last-Modified", self._http_date(info.st_mtime))]
        if not_modified(request.headers, etag, info.st_mtime):
            return Response(b"", 304, validators)
        headers = [("Content-Type", self.content_type(opened.real)), ("Accept-Ranges", "bytes")]
        headers += validators
        size = info.st_size
        start, count, status = 0, size, 200
        wanted = request.headers.get("range")
        if wanted is not None and if_range_allows(request.headers, etag, info.st_mtime):
            span = parse_range(wanted, size)
            if span == UNSATISFIABLE:
                headers = [("Content-Range", f"bytes */{size}")]
                return Response("416 Range Not Satisfiable: outside the file\n", 416, headers)
            if span is not None:
                start, count, status = span[0], span[1] - span[0] + 1, 206
                headers.append(("Content-Range", f"bytes {span[0]}-{span[1]}/{size}"))
        if request.method == "HEAD":
            response = Response(b"", status, headers)
            response.length = count
            return response
        if count <= SMALL_FILE:
            return Response(os.pread(opened.fd, count, start), status, headers)
        file = os.fdopen(opened.fd, "rb")  # closed once sent (Response.finish)
        opened.fd = -1
        return Response.from_file(file, start, count, status, headers)

    def _http_date(self, mtime: float) -> str:
        second = int(mtime)
        found = self._dates.get(second)
        if found is None:
            if len(self._dates) > 4096:
                self._dates.clear()
            found = self._dates[second] = formatdate(second, usegmt=True)
        return found

    def content_type(self, path: str) -> str:
        extension = os.path.splitext(path)[1].lower()
        found = self._types.get(extension)
        if found is None:
            guess = mimetypes.guess_type("x" + extension)[0] or "application/octet-stream"
            if guess.startswith("text/") or guess in _CHARSET_TYPES:
                guess += "; charset=utf-8"
            found = self._types[extension] = guess
        return found
