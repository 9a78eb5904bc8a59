"""A strict, sans-IO HTTP/1.1 request parser (RFC 9112).

Bytes go in with `feed()`; complete requests (head and body) come out of `next_request()`,
which returns None while more bytes are needed and raises an `HTTPError` (status on the class)
for anything malformed. Framing is never guessed: Content-Length with Transfer-Encoding, a
duplicate or non-decimal Content-Length, codings other than a final `chunked`, bare CR or LF,
control bytes, obs-fold and whitespace before a colon are all refused, so a request can never
be smuggled behind another one.

The state machine is a table of readers named after their state. The common case -- a whole
head in one read -- costs one `find`, one decode, one regex scan and a `split`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .body import SPOOL, BodySink
from .errors import (
    BadRequest,
    ExpectationFailed,
    HeaderFieldsTooLarge,
    NotImplementedHere,
    PayloadTooLarge,
    URITooLong,
    VersionNotSupported,
)
from .request import Request

TCHAR = r"!#$%&'*+\-.^_`|~0-9A-Za-z"
TOKEN = re.compile(f"[{TCHAR}]+")
_TOKEN = TCHAR.encode()
_QUOTED = rb'"(?:[\t !#-\[\]-~\x80-\xff]|\\[\t -~\x80-\xff])*"'
_EXTENSION = rb"[ \t]*;[ \t]*[%s]+(?:[ \t]*=[ \t]*(?:[%s]+|%s))?" % (_TOKEN, _TOKEN, _QUOTED)
_CHUNK_LINE = re.compile(rb"([0-9A-Fa-f]{1,16})(?:%s)*" % _EXTENSION)
# Every control character but HTAB. CRLFs are swapped for a tab before the scan, so a CR or
# LF still present afterwards is a bare one.
_CTL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_BARE = re.compile(rb"\r(?!\n)|(?<!\r)\n")
_VERSION = re.compile(r"HTTP/[0-9]\.[0-9]")
_VERSIONS = ("HTTP/1.1", "HTTP/1.0")
_JOINERS = {"cookie": "; "}
_MAX_CHUNK_LINE = 4096
_CACHE_SIZE = 1024

HEAD, LENGTH, CHUNK_SIZE, CHUNK_DATA, CHUNK_END, TRAILER = range(6)

# Names already validated (raw -> lower case); bounded so hostile clients cannot grow it.
_NAMES: dict[str, str] = {}
_METHODS: set[str] = {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"}


@dataclass(frozen=True)
class Limits:
    """Bounds on one request; past them the answer is 413, 414 or 431."""

    max_line: int = 8190  # request line
    max_fields: int = 100
    max_field: int = 8190  # one header field line
    max_body: int = 10 * 1024 * 1024
    spool: int = SPOOL


class RequestParser:
    """Parses the requests of one connection, in order."""

    def __init__(self, limits: Limits = Limits()):
        self.limits = limits
        self.buf = b""
        self.pos = 0
        self.state = HEAD
        self.request: Request | None = None  # the one whose body is being read
        self._ready: Request | None = None
        self._sink: BodySink | None = None
        self._left = 0
        self._trailers = 0
        self._scan = _HeadScan()
        self._readers = {
            HEAD: self._read_head,
            LENGTH: self._read_length,
            CHUNK_SIZE: self._read_chunk_size,
            CHUNK_DATA: self._read_chunk_data,
            CHUNK_END: self._read_chunk_end,
            TRAILER: self._read_trailer,
        }

    def feed(self, data: bytes) -> None:
        if self.pos >= len(self.buf):
            self.buf = data
        else:
            self.buf = self.buf[self.pos :] + data
        self.pos = 0

    def next_request(self) -> Request | None:
        """The next complete request, or None until more bytes arrive. Raises HTTPError."""
        if self.pos >= len(self.buf):  # every reader needs a byte (the common keep-alive case)
            return None
        readers = self._readers
        while readers[self.state]():
            if self._ready is not None:
                request, self._ready = self._ready, None
                return request
        return None

    @property
    def partial(self) -> bool:
        """True while part of a request (head or body) is buffered."""
        return self.state != HEAD or self.pos < len(self.buf)

    def close(self) -> None:
        if self._sink is not None:
            self._sink.close()
            self._sink = None

    # -- the head ---------------------------------------------------------------------------
    def _read_head(self) -> bool:
        buf, pos = self.buf, self.pos
        if buf.startswith(b"\r\n", pos):  # RFC 9112 2.2: ignore empty lines before a request
            while buf.startswith(b"\r\n", pos):
                pos += 2
            self.pos = pos
            self._scan.reset()
        end = buf.find(b"\r\n\r\n", pos)
        if end < 0:
            if pos < len(buf):
                self._scan.check(buf, pos, self.limits)
            return False
        self.pos = end + 4
        if self._scan.scanned:  # the head came in pieces
            self._scan.reset()
        request = parse_head(buf[pos:end].decode("latin-1"), self.limits)
        if request.chunked or request.content_length:
            self._start_body(request)
        else:
            self._ready = request
        return True

    def _start_body(self, request: Request) -> None:
        self.request = request
        self._sink = BodySink(self.limits.max_body, self.limits.spool)
        if request.chunked:
            self.state = CHUNK_SIZE
            self._trailers = 0
        else:
            self.state = LENGTH
            self._left = request.content_length

    def _finish_body(self) -> None:
        self.request.body_file = self._sink.finish()
        self.request.content_length = self._sink.size
        self._ready, self.request, self._sink = self.request, None, None
        self.state = HEAD

    # -- bodies -----------------------------------------------------------------------------
    def _take(self) -> bool:
        """Move up to `_left` buffered bytes into the sink; True when `_left` reaches 0."""
        buf, pos = self.buf, self.pos
        available = len(buf) - pos
        if not available:
            return False
        count = min(available, self._left)
        self._sink.write(buf[pos : pos + count] if count < len(buf) else buf)
        self.pos = pos + count
        self._left -= count
        return self._left == 0

    def _read_length(self) -> bool:
        if not self._take():
            return False
        self._finish_body()
        return True

    def _read_chunk_size(self) -> bool:
        buf, pos = self.buf, self.pos
        end = buf.find(b"\r\n", pos)
        if end < 0:
            if len(buf) - pos > _MAX_CHUNK_LINE:
                raise BadRequest("chunk size line too long")
            return False
        match = _CHUNK_LINE.fullmatch(buf, pos, end)
        if not match:
            raise BadRequest("invalid chunk size or chunk extension")
        size = int(match.group(1), 16)
        self.pos = end + 2
        if size == 0:
            self.state = TRAILER
        elif self._sink.size + size > self.limits.max_body:
            raise PayloadTooLarge(f"request body is larger than {self.limits.max_body} bytes")
        else:
            self._left, self.state = size, CHUNK_DATA
        return True

    def _read_chunk_data(self) -> bool:
        if not self._take():
            return False
        self.state = CHUNK_END
        return True

    def _read_chunk_end(self) -> bool:
        if len(self.buf) - self.pos < 2:
            if self.buf[self.pos :] not in (b"", b"\r"):
                raise BadRequest("chunk data is not followed by CRLF")
            return False
        if not self.buf.startswith(b"\r\n", self.pos):
            raise BadRequest("chunk data is not followed by CRLF")
        self.pos += 2
        self.state = CHUNK_SIZE
        return True

    def _read_trailer(self) -> bool:
        buf, pos = self.buf, self.pos
        end = buf.find(b"\r\n", pos)
        if end < 0:
            if len(buf) - pos > self.limits.max_field:
                raise HeaderFieldsTooLarge("trailer field too long")
            return False
        self.pos = end + 2
        if end == pos:
            self._finish_body()
            return True
        self._trailers += 1
        if self._trailers > self.limits.max_fields:
            raise HeaderFieldsTooLarge(f"more than {self.limits.max_fields} trailer fields")
        line = buf[pos:end].decode("latin-1")
        if _CTL.search(line):
            raise BadRequest("control character or bare CR/LF in a trailer field")
        parse_field(line, self.limits)  # validated, then dropped: trailers are not merged
        return True


class _HeadScan:
    """Early refusal of a head that is still arriving: bare line ends, too long, too many.

    Only the bytes not scanned before are looked at, so a client trickling a head byte by
    byte costs linear time. The complete head is validated again by `parse_head`.
    """

    __slots__ = ("line_start", "lines", "scanned")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.scanned = self.line_start = self.lines = 0  # offsets from the head's start

    def check(self, buf: bytes, pos: int, limits: Limits) -> None:
        start = pos + self.scanned
        bare = _BARE.search(buf, max(pos, start - 1))  # a CR that ended the last piece
        if bare and not (bare.end() == len(buf) and buf.endswith(b"\r")):
            raise BadRequest("bare CR or LF in the request head")
        newlines = buf.count(b"\n", start)
        if newlines:
            self.lines += newlines
            self.line_start = buf.rfind(b"\n", start) + 1 - pos
        self.scanned = len(buf) - pos
        line = self.scanned - self.line_start - buf.endswith(b"\r")
        if not self.lines and line > limits.max_line:
            raise URITooLong(f"request line longer than {limits.max_line} bytes")
        if self.lines > limits.max_fields:
            raise HeaderFieldsTooLarge(f"more than {limits.max_fields} header fields")
        if self.lines and line > limits.max_field:
            raise HeaderFieldsTooLarge(f"a header field longer than {limits.max_field} bytes")


def parse_head(text: str, limits: Limits) -> Request:
    """A request head (latin-1 text, without the final blank line) -> Request."""
    # printable text has no control byte (decided at C speed); else the scan allows HTAB
    if not text.replace("\r\n", "").isprintable() and _CTL.search(text.replace("\r\n", "\t")):
        raise BadRequest("NUL, control character or bare CR/LF in the request head")
    lines = text.split("\r\n")
    if len(lines[0]) > limits.max_line:
        raise URITooLong(f"request line longer than {limits.max_line} bytes")
    if len(lines) > limits.max_fields + 1:
        raise HeaderFieldsTooLarge(f"more than {limits.max_fields} header fields")
    method, target, version = parse_request_line(lines[0])
    headers: dict[str, str] = {}
    max_field = limits.max_field
    for line in lines[1:]:
        # a known name needs only the colon and length checks; others get parse_field's all
        raw, sep, value = line.partition(":")
        name = _NAMES.get(raw)
        if name is None or not sep or len(line) > max_field:
            name, value = parse_field(line, limits)
        else:
            value = value.strip(" \t")
        if name in headers:
            headers[name] = _combine(name, headers[name], value)
        else:
            headers[name] = value
    request = Request(method, target, version, headers)
    frame(request, limits)
    return request


def parse_request_line(line: str) -> tuple[str, str, str]:
    parts = line.split(" ")
    if len(parts) != 3:
        raise BadRequest("request line is not METHOD SP TARGET SP VERSION")
    method, target, version = parts
    if method not in _METHODS:
        if not TOKEN.fullmatch(method):
            raise BadRequest("invalid method")
        if len(_METHODS) < _CACHE_SIZE:
            _METHODS.add(method)
    if version not in _VERSIONS:
        if _VERSION.fullmatch(version):
            raise VersionNotSupported(f"{version} is not supported; use HTTP/1.1")
        raise BadRequest("invalid HTTP version")
    return method, parse_target(method, target), version


def parse_target(method: str, target: str) -> str:
    """The request target as origin-form ("/path?query"); other forms are mapped or refused."""
    # only \x21-\x7e: printable ASCII but the space (isprintable rules out controls, DEL)
    if not (target.isascii() and target.isprintable()) or " " in target or "#" in target:
        raise BadRequest("invalid request target")
    if target[:1] == "/":
        return target
    if not target:
        raise BadRequest("invalid request target")
    if target == "*" and method == "OPTIONS":
        return target
    scheme, sep, rest = target.partition("://")
    if sep and scheme.lower() in ("http", "https") and rest:
        slash = rest.find("/")
        query = rest.find("?")
        if slash < 0 or 0 <= query < slash:
            return "/" + rest[query:] if query >= 0 else "/"
        return rest[slash:]
    if method == "CONNECT":
        raise NotImplementedHere("CONNECT is not supported: this is not a proxy")
    raise BadRequest("invalid request target")


def parse_field(line: str, limits: Limits) -> tuple[str, str]:
    """One `name: value` line -> (lower-case name, value without surrounding whitespace)."""
    if len(line) > limits.max_field:
        raise HeaderFieldsTooLarge(f"a header field longer than {limits.max_field} bytes")
    name, sep, value = line.partition(":")
    lower = _NAMES.get(name)
    if lower is None or not sep:
        if line[:1] in (" ", "\t"):
            raise BadRequest("obsolete line folding in a header field")
        if not sep:
            raise BadRequest("header field without a colon")
        if not TOKEN.fullmatch(name):
            raise BadRequest("invalid header field name (whitespace before the colon?)")
        lower = name.lower()
        if len(_NAMES) < _CACHE_SIZE:
            _NAMES[name] = lower
    return lower, value.strip(" \t")


def _combine(name: str, old: str, new: str) -> str:
    if name in ("content-length", "host"):
        raise BadRequest(f"duplicate {name.title()} header")
    return old + _JOINERS.get(name, ", ") + new


def frame(request: Request, limits: Limits) -> None:
    """Decide the body's framing and the connection's persistence (RFC 9112 6 and 9.3)."""
    headers = request.headers
    old = request.version == "HTTP/1.0"
    connection = headers.get("connection")
    if connection:
        tokens = {token.strip().lower() for token in connection.split(",")}
        request.keep_alive = "keep-alive" in tokens if old else "close" not in tokens
    else:
        request.keep_alive = not old
    if not old and "host" not in headers:
        raise BadRequest("missing Host header")
    coding = headers.get("transfer-encoding")
    length = headers.get("content-length")
    if coding is not None:
        _chunked(request, coding, length)
    elif length is not None:
        if not (length.isascii() and length.isdigit()) or len(length) > 18:
            raise BadRequest("invalid Content-Length")
        request.content_length = int(length)
        if request.content_length > limits.max_body:
            raise PayloadTooLarge(f"request body is larger than {limits.max_body} bytes")
    expect = headers.get("expect")
    if expect is not None:
        if expect.lower() != "100-continue":
            raise ExpectationFailed(f"cannot meet the expectation {expect!r}")
        request.expect_continue = not old


def _chunked(request: Request, coding: str, length: str | None) -> None:
    if request.version == "HTTP/1.0":
        raise BadRequest("Transfer-Encoding in an HTTP/1.0 request")
    if length is not None:
        raise BadRequest("both Content-Length and Transfer-Encoding")
    codings = [c for c in (c.strip(" \t").lower() for c in coding.split(",")) if c]
    if not codings or codings[-1] != "chunked" or codings.count("chunked") > 1:
        raise BadRequest("Transfer-Encoding must end with a single chunked")
    if len(codings) > 1:
        raise NotImplementedHere(f"transfer coding {codings[0]!r} is not supported")
    request.chunked = True
