"""A request head -> `Request`: the request line, the field lines, the framing (RFC 9112
sections 3, 5 and 6), and the bounds on all of them.

`parse_head` takes a complete head; `HeadScan` refuses one that is still arriving as soon as
its bytes are bad or too many. Framing is never guessed: Content-Length with
Transfer-Encoding, a duplicate or non-decimal Content-Length, codings other than a final
`chunked`, bare CR or LF, control bytes, obs-fold and whitespace before a colon are all
refused, so a request can never be smuggled behind another one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .body import SPOOL
from .errors import (
    BadRequest,
    ExpectationFailed,
    HeaderFieldsTooLarge,
    NotImplementedHere,
    PayloadTooLarge,
    URITooLong,
    VersionNotSupported,
)
from .request import UNKNOWN, Request

TCHAR = r"!#$%&'*+\-.^_`|~0-9A-Za-z"
TOKEN = re.compile(f"[{TCHAR}]+")
# Every control character but HTAB. CRLFs are swapped for a tab before the scan, so a CR or
# LF still present afterwards is a bare one.
CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# printable ASCII maps to itself, CR and LF to two marks that meet only where a CRLF was, every
# other byte (controls, DEL, HTAB, obs-text) to a third: all three are non-ASCII, so the lines
# split at the CRLF marks are ASCII exactly when the head is printable ASCII in CRLF lines (a
# check that runs in C, where str.isprintable() costs ~20 instructions a character)
_MARKS = bytes(
    c if 0x20 <= c < 0x7F else 0x81 if c == 0x0D else 0x80 if c == 0x0A else 0x82
    for c in range(256)
)
_CRLF_MARK = "\x81\x80"
_BARE = re.compile(rb"\r(?!\n)|(?<!\r)\n")
_VERSION = re.compile(r"HTTP/[0-9]\.[0-9]")
_VERSIONS = ("HTTP/1.1", "HTTP/1.0")
_JOINERS = {"cookie": "; "}
# What frame() acts on; an HTTP/1.1 request with a Host and none of these keeps the defaults.
_FRAMING = frozenset(("connection", "content-length", "expect", "transfer-encoding"))
_CACHE_SIZE = 1024

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


class HeadScan:
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


def parse_head(head: bytes, limits: Limits, origin: tuple = UNKNOWN) -> Request:
    """A request head (without the final blank line) -> Request, from `origin` (see Request)."""
    lines = head.translate(_MARKS).decode("latin-1").split(_CRLF_MARK)
    printable = "".join(lines).isascii()
    if not printable:
        lines = _checked_lines(head)
    line = lines[0]
    if len(line) > limits.max_line:
        raise URITooLong(f"request line longer than {limits.max_line} bytes")
    del lines[0]  # the field lines are left
    if len(lines) > limits.max_fields:
        raise HeaderFieldsTooLarge(f"more than {limits.max_fields} header fields")
    try:
        method, target, version = line.split(" ")
    except ValueError:  # not three parts: parse_request_line says so
        method, target, version = parse_request_line(line)
    # the common line (printable ASCII): its target has only "#" to refuse
    if not (
        printable and method in _METHODS and version in _VERSIONS
        and target[:1] == "/" and "#" not in target
    ):  # fmt: skip
        method, target, version = parse_request_line(line)
    headers: dict[str, str] = {}
    if len(head) <= limits.max_field:  # no line can be too long in a shorter head
        for field in lines:
            # a known name and ": " need no other check (others get parse_field's); with the
            # space in the separator the value's strip makes no copy
            raw, sep, value = field.partition(": ")
            name = _NAMES.get(raw)
            if name is None or not sep:
                name, value = parse_field(field, limits)
            headers[name] = value.strip(" \t")
    if len(headers) != len(lines):  # a repeated name (or a long head): the careful way
        headers = parse_fields(lines, limits)
    request = Request(method, target, version, headers, origin)
    # most requests carry none of the fields that frame() decides by: skip its look-ups
    if version != "HTTP/1.1" or "host" not in headers or not _FRAMING.isdisjoint(headers):
        frame(request, limits)
    return request


def _checked_lines(head: bytes) -> list[str]:
    """The lines of a head that is not all printable ASCII, refused for control bytes and bare
    CR or LF (HTAB and obs-text are allowed)."""
    text = head.decode("latin-1")
    if CONTROL.search(text.replace("\r\n", "\t")):
        raise BadRequest("NUL, control character or bare CR/LF in the request head")
    return text.split("\r\n")


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


def parse_fields(lines: list[str], limits: Limits) -> dict[str, str]:
    """Field lines -> headers, every line checked in full and repeated names combined."""
    headers: dict[str, str] = {}
    for line in lines:
        name, value = parse_field(line, limits)
        headers[name] = _combine(name, headers[name], value) if name in headers else value
    return headers


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
