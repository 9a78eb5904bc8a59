"""The head's fast paths against the full checks they skip: for every input, the same result
or the same refusal (status), so a fast path can never accept what the full path refuses."""

from __future__ import annotations

import pytest

from server.protocols.http.errors import HTTPError
from server.protocols.http.head import (
    Limits,
    _checked_lines,
    frame,
    parse_fields,
    parse_head,
    parse_request_line,
)
from server.protocols.http.request import Request

LIMITS = Limits(max_body=1000)


def _outcome(call, *args):
    try:
        return call(*args)
    except HTTPError as error:
        return error.code


LINES = [
    "GET / HTTP/1.1", "GET /a/b?c=d&e HTTP/1.0", "HEAD /x HTTP/1.1", "PURGE /x HTTP/1.1",
    "G(ET / HTTP/1.1", "get / HTTP/1.1", "GET / HTTP/1.2", "GET / HTTP/2.0", "GET / http/1.1",
    "GET / HTTP/1", "GET /", "GET  / HTTP/1.1", "GET / HTTP/1.1 ", " GET / HTTP/1.1",
    "GET\t/\tHTTP/1.1", "GET /a\tb HTTP/1.1", "GET /a\x01b HTTP/1.1", "GET /a\x7fb HTTP/1.1",
    "GET /a#b HTTP/1.1", "GET /# HTTP/1.1", "GET /\xff HTTP/1.1", "GET /\xe9t\xe9 HTTP/1.1",
    "GET /\xa0 HTTP/1.1", "GET index.html HTTP/1.1", "GET * HTTP/1.1", "OPTIONS * HTTP/1.1",
    "GET http://h/a?b HTTP/1.1", "GET https://h HTTP/1.1", "GET ftp://h/ HTTP/1.1",
    "CONNECT h:443 HTTP/1.1", "GET  HTTP/1.1", "GET //x HTTP/1.1", "GET /%00 HTTP/1.1",
]  # fmt: skip


@pytest.mark.parametrize("line", LINES)
def test_the_request_line_fast_path_decides_as_the_full_checks(line):
    """parse_head accepts the common line itself; what it decides must be what
    parse_request_line decides."""
    full = _outcome(parse_request_line, line)
    head = _outcome(lambda: _line(parse_head(f"{line}\r\nHost: a".encode("latin-1"), LIMITS)))
    assert head == full


def _line(request: Request) -> tuple[str, str, str]:
    return request.method, request.target, request.version


FIELDS = [
    [], ["Host: a"], ["Host: a", "User-Agent: x"], ["Host: a", "Connection: close"],
    ["Host: a", "Connection: keep-alive"], ["Connection: close"], ["Host: a", "Expect: magic"],
    ["Host: a", "Expect: 100-continue", "Content-Length: 3"], ["Host: a", "Content-Length: 3"],
    ["Host: a", "Content-Length: 3000"], ["Host: a", "Content-Length: x"],
    ["Host: a", "Transfer-Encoding: chunked"], ["Host: a", "Transfer-Encoding: gzip"],
    ["Host: a", "Content-Length: 1", "Transfer-Encoding: chunked"], ["HOST: a", "X: y"],
]  # fmt: skip


def _framed(request: Request) -> tuple:
    return request.keep_alive, request.content_length, request.chunked, request.expect_continue


@pytest.mark.parametrize("version", ["HTTP/1.1", "HTTP/1.0"])
@pytest.mark.parametrize("fields", FIELDS, ids=" / ".join)
def test_a_request_that_skips_frame_is_framed_as_frame_would(fields, version):
    head = "\r\n".join([f"GET / {version}", *fields]).encode()
    parsed = _outcome(lambda: _framed(parse_head(head, LIMITS)))
    request = Request(
        "GET", "/", version, {k.lower(): v for k, v in (f.split(": ") for f in fields)}
    )
    assert parsed == _outcome(lambda: frame(request, LIMITS) or _framed(request))


def test_a_head_longer_than_a_field_line_checks_every_line_in_full():
    """Past max_field bytes in all, every field line goes through parse_field (length
    included); a shorter head cannot hold a line that is too long."""
    limits = Limits(max_field=40)
    fields = [f"X-{i}: {'v' * 20}" for i in range(3)]
    head = "\r\n".join(["GET / HTTP/1.1", "Host: a", *fields]).encode()
    assert len(head) > limits.max_field
    assert parse_head(head + b"\r\nX-Long: v", limits).headers["x-2"] == "v" * 20
    assert _outcome(parse_head, head + b"\r\nX-Long: " + b"v" * 40, limits) == 431  # name known
    assert _outcome(parse_head, head + b"\r\nHost", limits) == 400  # a known name, no colon
    assert _outcome(parse_head, b"GET / HTTP/1.1\r\nHost", limits) == 400


def _in_full(head: bytes) -> tuple:
    """parse_head without its fast paths: the control scan, then every check on every line."""
    lines = _checked_lines(head)
    request = Request(*parse_request_line(lines[0]), parse_fields(lines[1:], LIMITS))
    frame(request, LIMITS)
    return _line(request), request.headers, _framed(request)


G, H = b"GET / HTTP/1.1", b"Host: a"
PLACES = [
    b"GET /a%sb HTTP/1.1\r\n" + H, G + b"\r\nHost: a%sb", G + b"\r\nHo%sst: a",
    G + b"\r\nHost: a\r\nX: %s", G + b"%s\r\n" + H, G + b"\r\n%sHost: a",
    G + b"\r%s" + H, G + b"%s\n" + H,  # only CR LF ends a line
]  # fmt: skip
LINE_ENDS = [
    G + b"\r" + H, G + b"\n" + H, G + b"\r\r\n" + H, G + b"\r\n\n" + H, G + b"\n\r\n" + H,
    b"\n" + G + b"\r\n" + H, G + b"\r\n" + H + b"\r", G + b"\r\n" + H + b"\n",
    G + b"\r\n" + H + b"\r\n\r", G + b"\r\n" + H + b"\r\n", G + b"\r\nHost: \xe9\t\r\nX:\t\x80 ",
]  # fmt: skip


@pytest.mark.parametrize("place", PLACES)
def test_the_printable_check_decides_every_byte_as_the_control_scan(place):
    """parse_head takes a printable-ASCII head without the scan for control bytes and bare
    line ends; any byte, anywhere, must get the answer that the scan and the full checks give."""
    for byte in range(256):
        head = place % bytes([byte])
        assert _outcome(_fields_of, head) == _outcome(_in_full, head), head


FIELD_LINES = [
    "Host: a", "Host:a", "Host:  a", "Host: a ", "Host:\ta\t", "Host: a: b", "Host:a: b", "Host :a",
    "Host", "Host:", "Host: ", "Host:  ", ": a", "Host: a, b", "Host: a\r\nHost: b", "X-A: b: c",
    "Host: a\r\nUser-Agent:x", "Host: a\r\nUser-Agent : x", "Host: a\r\nCookie: a=1\r\nCookie: b=2",
]  # fmt: skip


@pytest.mark.parametrize("fields", FIELD_LINES)
def test_the_known_field_fast_path_decides_as_parse_field(fields):
    head = f"GET / HTTP/1.1\r\n{fields}".encode()
    assert _outcome(_fields_of, head) == _outcome(_in_full, head)


@pytest.mark.parametrize("head", LINE_ENDS)
def test_only_crlf_ends_a_line(head):
    assert _outcome(_fields_of, head) == _outcome(_in_full, head)


def _fields_of(head: bytes) -> tuple:
    request = parse_head(head, LIMITS)
    return _line(request), request.headers, _framed(request)
