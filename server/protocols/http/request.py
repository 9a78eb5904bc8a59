"""A parsed request: what the parser produces and what handler modules receive.

Handler modules (see `modules.py`) get this object. Its public attributes:

    method        "GET"
    path          the decoded path, "/hello/x"  (percent-decoded, UTF-8)
    raw_path      the path as sent, "/hello/x%20y"
    query_string  "a=1&b=2" (raw)
    version       "HTTP/1.1"
    headers       dict of lower-case name -> value (repeated fields joined with ", ")
    remote_addr   the client's address (X-Forwarded-For applied for trusted proxies)
    script_name   the mount point ("/hello" for handler module hello.py), "" elsewhere
    subpath       path below the mount point ("/x"), "/" at the mount point itself

and helpers: `header(name, default)`, `args` (first value of each query parameter), `query`
(every value: dict of lists), `body` (bytes), `text` (UTF-8), `json()`, `stream` (the body as
a binary file, for large uploads).
"""

from __future__ import annotations

import io
import json
from typing import Any
from urllib.parse import parse_qs, unquote

from .errors import BadRequest

_EMPTY = b""

#: (peer, remote_addr, scheme) of a request from nowhere known (a connection passes its own).
UNKNOWN: tuple = (None, "", "http")


class Request:
    __slots__ = (
        "_body",
        "_path",
        "body_file",
        "chunked",
        "content_length",
        "expect_continue",
        "headers",
        "keep_alive",
        "method",
        "peer",
        "query_string",
        "raw_path",
        "remote_addr",
        "scheme",
        "script_name",
        "started",
        "target",
        "version",
    )

    def __init__(
        self, method: str, target: str, version: str, headers: dict[str, str], origin=UNKNOWN
    ):
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        if "?" in target:
            self.raw_path, _, self.query_string = target.partition("?")
        else:  # most targets have no query: no call, no tuple
            self.raw_path, self.query_string = target, ""
        self._path: str | None = None
        self._body: bytes | None = None
        self.body_file: Any = None
        self.content_length = 0
        self.chunked = False
        self.keep_alive = True
        self.expect_continue = False
        # the TCP peer (host, port), None on Unix sockets; its address; "http" or "https"
        self.peer, self.remote_addr, self.scheme = origin
        self.script_name = ""
        self.started = 0.0

    # -- for handler modules ------------------------------------------------------------
    @property
    def path(self) -> str:
        """The percent-decoded path (UTF-8); BadRequest if it does not decode."""
        if self._path is None:
            raw = self.raw_path
            self._path = decode_path(raw) if "%" in raw else raw  # most paths: no call
        return self._path

    @property
    def subpath(self) -> str:
        rest = self.path[len(self.script_name) :]
        return rest or "/"

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(self.query_string, keep_blank_values=True)

    @property
    def args(self) -> dict[str, str]:
        return {name: values[0] for name, values in self.query.items()}

    @property
    def stream(self) -> Any:
        """The body as a readable binary file (spooled to disk past 1 MiB)."""
        return NO_BODY if self.body_file is None else self.body_file

    @property
    def body(self) -> bytes:
        if self._body is None:
            stream = self.body_file
            if stream is None:
                return _EMPTY
            stream.seek(0)
            self._body = stream.read()
            stream.seek(0)
        return self._body

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body parsed as JSON; BadRequest (400) when it is not JSON."""
        try:
            return json.loads(self.body or b"null")
        except ValueError as exc:
            raise BadRequest(f"request body is not JSON: {exc}") from None

    def close(self) -> None:
        if self.body_file is not None:
            self.body_file.close()

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.target} {self.version}>"


class _NoBody(io.RawIOBase):
    """The body of every request that has none: one shared, always-empty file that stays
    open (an app closing its `wsgi.input` must not close it for the next request)."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        return 0

    def seekable(self) -> bool:
        return True  # apps that rewind their input (BytesIO allowed it) find it empty again

    def seek(self, offset: int, whence: int = 0) -> int:
        return 0

    def close(self) -> None:
        pass


NO_BODY = _NoBody()


def decode_path(raw: str) -> str:
    """Percent-decode a path as UTF-8 (strictly: invalid UTF-8 is a 400, never guessed)."""
    try:
        return unquote(raw, errors="strict")
    except UnicodeDecodeError:
        raise BadRequest("path is not valid UTF-8 once percent-decoded") from None
