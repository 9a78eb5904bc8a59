"""Responses: what handlers return and how a response head is put on the wire.

`Response` is also the return type of handler modules' `handle(request)`:

    Response(body=b"", status=200, headers=None, content_type=None)

`body` is bytes, str (sent as UTF-8) or an iterable of bytes (streamed, chunked on HTTP/1.1);
`headers` a dict or a list of (name, value). A handler may instead return bytes or str (200),
a dict or list (200, JSON), or a (status, headers, body) tuple; `coerce()` accepts all of them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from email.utils import formatdate
from http import HTTPStatus
from time import time as _now
from typing import Any

from .errors import HTTPError, InternalError

_new = object.__new__

REASONS = {status.value: status.phrase for status in HTTPStatus}
STATUS = {code: f"{code} {reason}" for code, reason in REASONS.items()}
NO_BODY = frozenset({204, 304})  # and every 1xx
TEXT = "text/plain; charset=utf-8"

# Set-Cookie may repeat, but Content-Length and the hop-by-hop headers are ours to set.
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
     "proxy-authenticate", "proxy-authorization"}
)  # fmt: skip
_SPECIAL = _HOP_BY_HOP | {"content-length"}


# Header lists already checked, by value, to what they put in a head: an app answers with the
# same list of tuples again and again, and one lookup of it is cheaper than checking each pair.
_Checked = tuple[str, int | None, bool, str]
_CHECKED: dict[tuple, _Checked] = {}
_CHECKED_MAX = 1024
_NO_FIELDS = ("", None, False, "")
#: Content-Length lines of bodies whose headers do not declare one (static files, modules'
#: answers): a site sends a few sizes again and again, and formatting an int is dearer.
_LENGTH_LINES: dict[int, str] = {}


def _check_fields(headers: Iterable) -> _Checked:
    """(header lines, the Content-Length they declare, whether they ask to close, the
    Content-Length line for the declared length, "" without one). CR or LF
    anywhere is an InternalError (response splitting), as is a name or value not a str;
    hop-by-hop headers are dropped (they are ours to set)."""
    lines, length, close = [], None, False
    for name, value in headers:
        if not (isinstance(name, str) and isinstance(value, str)):
            raise InternalError(f"response header {name!r}: {value!r} is not two strings")
        lower = name.lower()
        if lower == "content-length":
            if not (value.isascii() and value.isdigit()):
                raise InternalError(f"response Content-Length {value!r} is not a number")
            length = int(value)
        elif lower in _HOP_BY_HOP:
            close = close or (lower == "connection" and "close" in value.lower())
        elif "\n" in value or "\r" in value or "\n" in name or "\r" in name:
            raise InternalError(f"response header {name!r} contains CR or LF")
        else:
            lines.append(f"{name}: {value}\r\n")
    framing = "" if length is None else f"Content-Length: {length}\r\n"
    return "".join(lines), length, close, framing


def _fields(headers: list) -> _Checked:
    """`_check_fields`, remembered when every pair is a tuple (the same pairs make the same
    lines); a list holding lists is checked every time."""
    try:
        key = tuple(headers)
        checked = _CHECKED.get(key)
    except TypeError:  # unhashable: a pair that is a list
        return _check_fields(headers)
    if checked is None:
        checked = _check_fields(key)
        if len(_CHECKED) >= _CHECKED_MAX:
            _CHECKED.clear()  # per-response values (cookies) must not crowd out the rest
        _CHECKED[key] = checked
    return checked


def _length_line(length: int) -> str:
    if len(_LENGTH_LINES) >= _CHECKED_MAX:
        _LENGTH_LINES.clear()  # every size once: keep the recent ones
    _LENGTH_LINES[length] = line = f"Content-Length: {length}\r\n"
    return line


def status_text(code: int) -> str:
    return STATUS.get(code) or f"{code} Unknown"


class Response:
    """One response: a status, headers and a body (bytes, iterable, or a file range)."""

    __slots__ = (
        "body", "close", "code", "count", "fields", "file", "headers", "iterable", "length",
        "offset", "on_close", "status",
    )  # fmt: skip

    def __init__(
        self,
        body: bytes | str | Iterable[bytes] = b"",
        status: int = 200,
        headers: dict[str, str] | list[tuple[str, str]] | None = None,
        content_type: str | None = None,
    ):
        self.code = status
        self.status = status_text(status)
        self.headers = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
        self.fields = ""  # header lines checked and encoded once (encode_fields), sent first
        if isinstance(body, str):
            body = body.encode("utf-8")
            content_type = content_type or TEXT
        if content_type:
            self.headers.append(("Content-Type", content_type))
        self.file: Any = None
        self.offset = 0
        self.count = 0
        self.on_close: Callable[[], None] | None = None
        self.close = False  # True: close the connection after this response
        if isinstance(body, (bytes, bytearray, memoryview)):
            self.body: bytes | None = bytes(body)
            self.iterable: Iterable[bytes] | None = None
            self.length: int | None = len(self.body)
        else:
            self.body, self.iterable, self.length = None, body, None

    @classmethod
    def from_file(cls, file, offset: int, count: int, status: int = 200, headers=None):
        """Send `count` bytes of an open file (closed once sent) with os.sendfile."""
        response = cls(b"", status, headers)
        response.file, response.offset, response.count = file, offset, count
        response.body, response.length = None, count
        response.on_close = file.close
        return response

    def finish(self) -> None:
        """Release what the body holds (files, WSGI iterables); safe to call twice."""
        on_close, self.on_close = self.on_close, None
        if on_close is not None:
            on_close()

    def __repr__(self) -> str:
        return f"<Response {self.status}>"


def build_response(
    code: int,
    status: str,
    headers: list,
    body=None,
    iterable=None,
    fields: str = "",
    cls: type[Response] = Response,
) -> Response:
    """A response from parts already checked (the WSGI path: no conversions); `fields` are
    header lines from `encode_fields`, sent before `headers`; `cls` a subclass to make. A
    function, not a classmethod on Response: for every response that saves the bound method
    and the `__new__` lookup."""
    response = _new(cls)
    response.code, response.status, response.headers = code, status, headers
    response.fields = fields
    response.body, response.iterable = body, iterable
    response.length = len(body) if body is not None else None
    response.file, response.offset, response.count = None, 0, 0
    response.on_close, response.close = None, False
    return response


#: Where a response may go out before the application returns (a WSGI app's write()): called
#: with the response, it sends the head and returns a callable that sends one body chunk
#: before it returns. The connection gives one with each request it hands to the application.
EarlySink = Callable[[Response], Callable[[bytes], None]]


def error_response(error: HTTPError) -> Response:
    """The short text answer for an error: its status and a line naming the problem."""
    reason = REASONS.get(error.code, "Error")
    text = f"{error.code} {reason}: {error.message}\n" if error.message else f"{reason}\n"
    response = Response(text, error.code, list(error.headers))
    response.close = error.close
    return response


def coerce(result: Any) -> Response:
    """A handler module's return value -> Response (see the module docstring)."""
    if isinstance(result, Response):
        return result
    if isinstance(result, (bytes, str)):
        return Response(result, content_type=None if isinstance(result, str) else TEXT)
    if isinstance(result, (dict, list)):
        return Response(json.dumps(result).encode(), content_type="application/json")
    if isinstance(result, tuple) and len(result) == 3:
        status, headers, body = result
        return Response(body, int(status), headers)
    raise InternalError(f"a handler returned {type(result).__name__}, not a response")


def _held(response: Response) -> bool:
    return response.body is not None or response.file is not None


def encode_fields(headers: Iterable[tuple[str, str]]) -> str:
    """Header lines checked once by `encode_head`'s rules, to send as they are with every
    response that carries them (`Response.fields`): what a cached file answers with. Names
    that frame the body or the connection are not allowed here (ValueError)."""
    headers = list(headers)
    for name, _ in headers:
        if name.lower() in _SPECIAL:
            raise ValueError(f"{name} is set per response, not in pre-encoded fields")
    encode_head(build_response(200, "200 OK", headers, b""), "", True)  # or raises
    return "".join(f"{name}: {value}\r\n" for name, value in headers)


class DateHeader:
    """The Date header line, formatted again only when a second is over (or the clock went
    back): `line` holds for `start <= time.time() < end` (floats: an int would make each
    comparison a mixed one)."""

    __slots__ = ("end", "line", "start")

    def __init__(self) -> None:
        self.start = self.end = 0.0
        self.line = ""

    def at(self, now: float) -> str:
        second = int(now)
        self.line = f"Date: {formatdate(second, usegmt=True)}\r\n"
        self.start, self.end = float(second), float(second + 1)  # after the line (threads)
        return self.line


DATE = DateHeader()


def encode_head(
    response: Response, fixed: str, keep: bool, method: str = "GET", version: str = "HTTP/1.1"
) -> tuple:
    """(head bytes, keep-alive, chunked, bodyless) answering a `method` request in `version`:
    the one place that decides them. `fixed` holds Server and friends. Hop-by-hop headers are
    dropped, CR or LF anywhere is a 500 (response splitting), HEAD, 1xx, 204 and 304 go out
    without a body, a body of unknown length is chunked on keep-alive HTTP/1.1 or ends it."""
    try:
        checked, headers = _NO_FIELDS, response.headers
        if headers:
            try:  # `_fields` written out for a list already remembered
                checked = _CHECKED[tuple(headers)]
            except (KeyError, TypeError):  # new, or holding a list
                checked = _fields(headers)
        fields, length, close, declared = checked
        length = response.length if length is None else length
        keep = keep and not close
        head_only = bodyless = method == "HEAD"
        code, chunked, framing = response.code, False, ""
        if code < 200 or code in NO_BODY:  # 1xx, 204 and 304 have no body to frame
            bodyless = True
        elif length is not None:
            if length != response.length and not head_only and _held(response):  # a desync
                raise InternalError(f"Content-Length {length} for {response.length} bytes")
            response.length = length  # a streamed body is held to the length it declares
            framing = declared or _LENGTH_LINES.get(length) or _length_line(length)
        elif keep and version == "HTTP/1.1" and not head_only:
            chunked = True
            framing = "Transfer-Encoding: chunked\r\n"
        elif not head_only:
            keep = False
        keep = keep and not response.close  # after the framing choice, as it always was
        date = DATE.line if DATE.start <= (now := _now()) < DATE.end else DATE.at(now)
        head = (
            f"HTTP/1.1 {response.status}\r\n{date}{fixed}{response.fields}{fields}{framing}"
            f"Connection: {'keep-alive' if keep else 'close'}\r\n\r\n"
        )  # one f-string: cheaper than a list joined
        return head.encode("latin-1"), keep, chunked, bodyless
    except (TypeError, ValueError, AttributeError) as exc:  # not (str, str) pairs, not latin-1
        raise InternalError(f"invalid response head: {exc}") from None
