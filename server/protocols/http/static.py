"""Static files under --root: GET and HEAD, conditional requests, single ranges, listings.

Every path goes through the jail (server/fs.py): a `..` segment (however it was encoded), a
NUL, a backslash or a symlink that leads out of the root is refused with 403 before the disk
is touched; a path that does not exist is 404. Small files are read and sent with their head
in one write and kept in a FileCache (filecache.py: checked on every use by a stat of the
file and of each folder below the root); larger ones go out with os.sendfile.
"""

from __future__ import annotations

import mimetypes
import os
import stat
from email.utils import formatdate

from ...fs import Jail, PathRefused, located
from .errors import Forbidden, MethodNotAllowed, NotFound
from .filecache import Checks, FileCache, StaticFile, identity
from .listing import listing_page
from .request import Request
from .response import Response, build_response, status_text
from .validators import (
    UNSATISFIABLE,
    if_range_allows,
    make_etag,
    not_modified,
    parse_range,
)

SMALL_FILE = 64 * 1024  # read, cached and sent with the head; larger: sendfile
INDEX = "index.html"
_CHARSET_TYPES = ("application/javascript", "application/json", "image/svg+xml")


class _Opened:
    """A file or folder opened inside the jail by its virtual `path`; whoever takes `fd` must
    close it."""

    __slots__ = ("fd", "info", "path", "real")

    def __init__(self, fd: int, path: str, real: str, info: os.stat_result):
        self.fd, self.path, self.real, self.info = fd, path, real, info

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.info.st_mode)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class StaticFiles:
    def __init__(self, root: str, listing: bool = False, cache: FileCache | None = None):
        self.jail = Jail(root)
        self.listing = listing
        self.cache = FileCache() if cache is None else cache
        self._types: dict[str, str] = {}
        self._dates: dict[int, str] = {}

    def respond(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            raise MethodNotAllowed(f"{request.method} is not allowed on static files")
        cached = self._cached(request)
        if cached is not None:
            return self._answer(request, cached, None)
        opened = self._open(request.path)
        if opened.is_dir:
            opened.close()
            return self._directory(request, opened.real)
        return self._file(request, opened)

    def respond_if_file(self, request: Request) -> Response | None:
        """The answer when the path names a file or a folder we can show, else None."""
        cached = self._cached(request)
        if cached is not None:
            return self._answer(request, cached, None)
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
    def _cached(self, request: Request) -> StaticFile | None:
        """The cached file for this path when it is unchanged on disk. Only normal paths are
        keys (`_keep`), so a path with `..`, NUL or a backslash misses here and is refused by
        `_open` before the disk is touched. A folder's key ("/dir/") holds its index, which
        answers only when the path as sent ends in "/" too (else `_directory` redirects)."""
        path = request.path
        if path.endswith("/") and not request.raw_path.endswith("/"):
            return None
        return self.cache.get(path)

    def _keep(self, key: str, opened: _Opened, file: StaticFile) -> None:
        """Cache a small file the jail opened under the path it was asked by, when that path is
        already normal (other spellings, "//a" or "/./a", never take a place) and has no
        symlink on it: its folders' stats, then where the descriptor is now, must be exactly
        root + path (why: filecache.py's docstring)."""
        path = opened.path
        if file.body is None or self.jail.virtual(path) != path:
            return
        target = os.path.join(self.jail.root, path.lstrip("/"))
        try:
            folders = self._folders(path)
            if located(opened.fd) != target:
                return  # reached through a symlink, or moved since it was opened
        except OSError:  # a folder gone, or no /proc to ask
            return
        self.cache.keep(key, folders, target, file)

    def _folders(self, path: str) -> Checks:
        """The identity of each folder between the root and the file `path` names."""
        names = path.strip("/").split("/")[:-1]
        folders = [os.path.join(self.jail.root, *names[: depth + 1]) for depth in range(len(names))]
        return tuple((folder, identity(os.stat(folder))) for folder in folders)

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
        opened = _Opened(fd, path, real, os.fstat(fd))
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
            file = self._describe(opened)
            self._keep(request.path, opened, file)
            return self._answer(request, file, opened)
        finally:
            opened.close()  # a no-op once a response has taken the descriptor

    def _describe(self, opened: _Opened) -> StaticFile:
        """Validators and headers of an open regular file, and its bytes when it is small."""
        info = opened.info
        etag = make_etag(info.st_mtime_ns, info.st_size)
        validators = (("ETag", etag), ("Last-Modified", self._http_date(info.st_mtime)))
        content_type = ("Content-Type", self.content_type(opened.real))
        headers = (content_type, ("Accept-Ranges", "bytes"), *validators)
        body = os.pread(opened.fd, info.st_size, 0) if info.st_size <= SMALL_FILE else None
        return StaticFile(info, etag, validators, headers, body)

    def _answer(self, request: Request, file: StaticFile, opened: _Opened | None) -> Response:
        """The answer from what is known of a file; `opened` is needed only when its bytes
        were not read (a large file)."""
        fields = request.headers  # most requests are unconditional: not_modified is not called
        conditional = "if-none-match" in fields or "if-modified-since" in fields
        if conditional and not_modified(fields, file.etag, file.mtime):
            return Response(b"", 304, file.validators)
        headers = file.headers
        size = file.size
        start, count, status = 0, size, 200
        wanted = fields.get("range")
        if wanted is not None and if_range_allows(fields, file.etag, file.mtime):
            span = parse_range(wanted, size)
            if span == UNSATISFIABLE:
                headers = (("Content-Range", f"bytes */{size}"),)
                return Response("416 Range Not Satisfiable: outside the file\n", 416, headers)
            if span is not None:
                start, count, status = span[0], span[1] - span[0] + 1, 206
                headers += (("Content-Range", f"bytes {span[0]}-{span[1]}/{size}"),)
        if request.method == "HEAD":
            response = Response(b"", status, headers)
            response.length = count
            return response
        if file.body is not None:  # parts made here, checked once: no conversions
            if status == 200:  # the fields positionally: a keyword makes the call dearer
                return build_response(200, "200 OK", [], file.body, None, file.fields)
            body = file.body[start : start + count]
            return build_response(status, status_text(status), list(headers), body)
        if count <= SMALL_FILE:
            return Response(os.pread(opened.fd, count, start), status, headers)
        stream = os.fdopen(opened.fd, "rb")  # closed once sent (Response.finish)
        opened.fd = -1
        return Response.from_file(stream, start, count, status, headers)

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
