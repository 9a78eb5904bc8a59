"""The request parser, table-driven: what valid requests become, and what each bad one raises."""

from __future__ import annotations

import pytest

from server.protocols.http.errors import HTTPError
from server.protocols.http.parser import Limits, RequestParser

LIMITS = Limits(max_body=1000, spool=100)


def parse_all(data: bytes, step: int | None = None, limits: Limits = LIMITS) -> list:
    """Every request in `data`, fed whole or `step` bytes at a time."""
    parser = RequestParser(limits)
    found = []
    pieces = [data] if step is None else [data[i : i + step] for i in range(0, len(data), step)]
    for piece in pieces:
        parser.feed(piece)
        while (request := parser.next_request()) is not None:
            found.append(request)
    return found


VALID = [
    # (id, bytes, method, target, version, keep_alive, body)
    ("get", b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", "GET", "/", "HTTP/1.1", True, b""),
    ("query", b"GET /p?q=1 HTTP/1.1\r\nHost: a\r\n\r\n", "GET", "/p?q=1", "HTTP/1.1", True, b""),
    ("close", b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", "GET", "/", "HTTP/1.1",
     False, b""),
    ("close-token-list", b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, CLOSE\r\n\r\n", "GET",
     "/", "HTTP/1.1", False, b""),
    ("http10", b"GET / HTTP/1.0\r\n\r\n", "GET", "/", "HTTP/1.0", False, b""),
    ("http10-keep", b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", "GET", "/", "HTTP/1.0",
     True, b""),
    ("length", b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", "POST", "/x",
     "HTTP/1.1", True, b"hello"),
    ("length-ows", b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length:  5 \r\n\r\nhello", "POST",
     "/x", "HTTP/1.1", True, b"hello"),
    ("chunked", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"5\r\nhello\r\n1;ext=v;q=\"a b\"\r\n!\r\n0\r\nTrailer: x\r\n\r\n", "POST", "/",
     "HTTP/1.1", True, b"hello!"),
    ("chunked-uppercase-hex", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n"
     b"A\r\n0123456789\r\n0\r\n\r\n", "POST", "/", "HTTP/1.1", True, b"0123456789"),
    ("absolute-form", b"GET http://example.com/a/b?c HTTP/1.1\r\nHost: a\r\n\r\n", "GET",
     "/a/b?c", "HTTP/1.1", True, b""),
    ("absolute-form-no-path", b"GET https://example.com HTTP/1.1\r\nHost: a\r\n\r\n", "GET", "/",
     "HTTP/1.1", True, b""),
    ("options-star", b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", "OPTIONS", "*", "HTTP/1.1", True,
     b""),
    ("custom-method", b"PURGE /x HTTP/1.1\r\nHost: a\r\n\r\n", "PURGE", "/x", "HTTP/1.1", True,
     b""),
    ("leading-empty-lines", b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", "GET", "/", "HTTP/1.1",
     True, b""),
    ("obs-text-value", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: caf\xe9\r\n\r\n", "GET", "/",
     "HTTP/1.1", True, b""),
]  # fmt: skip


@pytest.mark.parametrize("step", [None, 1, 7])
@pytest.mark.parametrize(
    ("data", "method", "target", "version", "keep", "body"),
    [case[1:] for case in VALID],
    ids=[case[0] for case in VALID],
)
def test_valid_requests(data, method, target, version, keep, body, step):
    [request] = parse_all(data, step)
    assert (request.method, request.target, request.version) == (method, target, version)
    assert request.keep_alive is keep
    assert request.stream.read() == body
    assert request.content_length == len(body)


def test_headers_are_lower_case_and_repeats_joined():
    data = (
        b"GET / HTTP/1.1\r\nHost: a\r\nAccept: x\r\naccept: y\r\nCookie: a=1\r\nCookie: b=2\r\n\r\n"
    )
    [request] = parse_all(data)
    assert request.headers == {"host": "a", "accept": "x, y", "cookie": "a=1; b=2"}
    assert request.header("ACCEPT") == "x, y"


def test_pipelined_requests_come_out_in_order():
    one = b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
    two = b"POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
    three = b"POST /3 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n"
    for step in (None, 1, 5):
        found = parse_all(one + two + three + one, step)
        assert [r.target for r in found] == ["/1", "/2", "/3", "/1"]
        assert [r.stream.read() for r in found] == [b"", b"abc", b"z", b""]


def test_partial_is_true_only_while_a_request_is_incomplete():
    parser = RequestParser(LIMITS)
    assert not parser.partial
    parser.feed(b"GET / HTTP/1.1\r\nHo")
    assert parser.next_request() is None and parser.partial
    parser.feed(b"st: a\r\nContent-Length: 2\r\n\r\nx")
    assert parser.next_request() is None and parser.request is not None
    parser.feed(b"y")
    assert parser.next_request().stream.read() == b"xy"
    assert not parser.partial
    parser.feed(b"")
    assert not parser.partial and parser.next_request() is None
    parser.feed(b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n")
    assert parser.partial and parser.next_request().target == "/1"
    assert parser.partial and parser.next_request().target == "/2"
    assert not parser.partial and parser.next_request() is None
    parser.feed(b"GET /3 HTTP/1.1\r\nHost: a\r\n\r\n\r\n")  # an empty line after it
    assert parser.next_request().target == "/3" and parser.partial
    assert parser.next_request() is None and not parser.partial


def test_large_bodies_are_spooled_to_a_file():
    body = bytes(range(256)) * 2
    data = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 512\r\n\r\n" + body
    [request] = parse_all(data, 64)
    assert request.body == body
    assert not hasattr(request.stream, "getvalue")  # a temporary file, not memory


ERRORS = [
    ("cl-and-te", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n", 400),
    ("cl-duplicate", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n"
     b"Content-Length: 1\r\n\r\n", 400),
    ("cl-plus", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n", 400),
    ("cl-unicode-digit", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \xb9\r\n\r\n", 400),
    ("cl-over-limit", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1001\r\n\r\n", 413),
    ("te-empty", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,\r\n\r\n", 400),
    ("te-gzip-chunked", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
     501),
    ("chunk-bad", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nz\r\n", 400),
    ("chunked-over-limit", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"3e9\r\n", 413),
    ("chunked-sum-over-limit", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"1f4\r\n" + b"x" * 500 + b"\r\n1f5\r\n", 413),
    ("chunk-line-too-long", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1;"
     + b"a" * 5000, 400),
    ("trailer-bad-name", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"0\r\nBad Name: x\r\n\r\n", 400),
    ("obs-fold", b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400),
    ("bare-lf-early", b"GET / HTTP/1.1\nHost: a", 400),
    ("bare-cr-early", b"GET / HTTP/1.1\rHost: a", 400),
    ("bare-cr-first", b"\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("bare-cr-after-empty-line", b"\r\n\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("nul", b"GET / HTTP/1.1\r\nHost: a\x00\r\n\r\n", 400),
    ("space-before-colon", b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
    ("no-host", b"GET / HTTP/1.1\r\n\r\n", 400),
    ("http2", b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
    ("bad-version", b"GET / HTTP/x\r\nHost: a\r\n\r\n", 400),
    ("expect-other", b"GET / HTTP/1.1\r\nHost: a\r\nExpect: magic\r\n\r\n", 417),
    ("line-too-long", b"GET /" + b"a" * 8200, 414),
    ("line-too-long-complete", b"GET /" + b"a" * 8200 + b" HTTP/1.1\r\nHost: a\r\n\r\n", 414),
    ("field-too-long", b"GET / HTTP/1.1\r\nX: " + b"a" * 8200, 431),
    ("too-many-fields", b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 101, 431),
    ("too-many-fields-complete", b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 101 + b"\r\n", 431),
]  # fmt: skip


@pytest.mark.parametrize("step", [None, 1, 13])
@pytest.mark.parametrize(("data", "status"), [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_errors_carry_their_status(data, status, step):
    with pytest.raises(HTTPError) as raised:
        parse_all(data, step)
    assert raised.value.code == status
    assert raised.value.close  # the stream is not trusted after a framing error
    assert raised.value.message


def test_exactly_at_the_limits_is_accepted():
    line = b"GET /" + b"a" * (8190 - len(b"GET / HTTP/1.1")) + b" HTTP/1.1"
    assert len(line) == 8190
    fields = b"".join(b"X-%d: %s\r\n" % (i, b"v" * 10) for i in range(99))
    big = b"X-Big: " + b"v" * (8190 - 7) + b"\r\n"
    [request] = parse_all(line + b"\r\nHost: a\r\n" + fields + b"\r\n", 1000)
    assert len(request.headers) == 100
    [request] = parse_all(b"GET / HTTP/1.1\r\nHost: a\r\n" + big + b"\r\n", 1)
    assert len(request.headers["x-big"]) == 8183
