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


class StaticFiles:
    def __init__(self, root: str, listing: bool = False):
        self.jail = Jail(root)
        self.listing = listing
        self._types: dict[str, str] = {}

    def respond(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            raise MethodNotAllowed(f"{request.method} is not allowed on static files")
        real, info = self._lookup(request)
        if stat.S_ISDIR(info.st_mode):
            return self._directory(request, real)
        return self._file(request, real, info)

    def respond_if_file(self, request: Request) -> Response | None:
        """The answer when the path names a file or a folder we can show, else None."""
        try:
            real, info = self._lookup(request)
        except NotFound:
            return None
        if stat.S_ISDIR(info.st_mode):
            try:
                return self._directory(request, real)
            except Forbidden:  # no index and no listing: the app may know the path
                return None
        return self._file(request, real, info)

    # -- resolution ---------------------------------------------------------------------------
    def _lookup(self, request: Request) -> tuple[str, os.stat_result]:
        path = request.path
        if "\0" in path or "\\" in path or ".." in path.split("/"):
            raise Forbidden("path leads outside the root")
        try:
            real = self.jail.real(path)
        except PathRefused:
            raise Forbidden("path leads outside the root") from None
        try:
            info = os.stat(real)
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"{path} does not exist") from None
        except PermissionError:
            raise Forbidden(f"{path} is not readable") from None
        if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
            raise Forbidden(f"{path} is not a regular file")
        return real, info

    def _directory(self, request: Request, real: str) -> Response:
        if not request.raw_path.endswith("/"):
            location = request.raw_path + "/"
            if request.query_string:
                location += "?" + request.query_string
            return Response(f"moved to {location}\n", 301, [("Location", location)])
        index = self._index(real)
        if index is not None:
            return self._file(request, *index)
        if not self.listing:
            raise Forbidden("directory listing is off")
        body = listing_page(request.path, self.jail, real)
        return Response(body, 200, [("Cache-Control", "no-cache")], "text/html; charset=utf-8")

    @staticmethod
    def _index(folder: str) -> tuple[str, os.stat_result] | None:
        index = os.path.join(folder, INDEX)
        try:
            info = os.stat(index)
        except OSError:
            return None
        return (index, info) if stat.S_ISREG(info.st_mode) else None

    # -- files --------------------------------------------------------------------------------
    def _file(self, request: Request, real: str, info: os.stat_result) -> Response:
        etag = make_etag(info.st_mtime_ns, info.st_size)
        validators = [("ETag", etag), ("Last-Modified", formatdate(info.st_mtime, usegmt=True))]
        if not_modified(request.headers, etag, info.st_mtime):
            return Response(b"", 304, validators)
        headers = [("Content-Type", self.content_type(real)), ("Accept-Ranges", "bytes")]
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
        return self._body(request, real, start, count, status, headers)

    def _body(self, request, real, start, count, status, headers) -> Response:
        if request.method == "HEAD":
            response = Response(b"", status, headers)
            response.length = count
            return response
        try:
            file = open(real, "rb")  # noqa: SIM115 -- closed once sent (Response.finish)
        except OSError:
            raise Forbidden(f"{request.path} cannot be opened") from None
        if count > SMALL_FILE:
            return Response.from_file(file, start, count, status, headers)
        with file:
            if start:
                file.seek(start)
            return Response(file.read(count), status, headers)

    def content_type(self, path: str) -> str:
        extension = os.path.splitext(path)[1].lower()
        found = self._types.get(extension)
        if found is None:
            guess = mimetypes.guess_type("x" + extension)[0] or "application/octet-stream"
            if guess.startswith("text/") or guess in _CHARSET_TYPES:
                guess += "; charset=utf-8"
            found = self._types[extension] = guess
        return found
