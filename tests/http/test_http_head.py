"""The head's fast paths against the full checks they skip: for every input, the same result
or the same refusal (status), so a fast path can never accept what the full path refuses."""

from __future__ import annotations

import pytest

from server.protocols.http.errors import HTTPError
from server.protocols.http.head import Limits, frame, parse_head, parse_request_line
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
    head = _outcome(lambda: _line(parse_head(line + "\r\nHost: a", LIMITS)))
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
    head = "\r\n".join([f"GET / {version}", *fields])
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
    head = "\r\n".join(["GET / HTTP/1.1", "Host: a", *fields])
    assert len(head) > limits.max_field
    assert parse_head(head + "\r\nX-Long: v", limits).headers["x-2"] == "v" * 20
    assert _outcome(parse_head, head + "\r\nX-Long: " + "v" * 40, limits) == 431  # name known
    assert _outcome(parse_head, head + "\r\nHost", limits) == 400  # a known name, no colon
    assert _outcome(parse_head, "GET / HTTP/1.1\r\nHost", limits) == 400
