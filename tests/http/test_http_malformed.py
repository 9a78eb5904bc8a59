"""The malformed-request table, under every model: each case gets its status, the
connection is closed (nothing smuggled behind it), and the server serves the next client."""

from __future__ import annotations

import pytest
from client import exchange, get, status_of

H = b"Host: test"  # a field line for _head(), which adds the CRLF
POST = b"POST /echo HTTP/1.1\r\n" + H + b"\r\n"


def _head(*fields: bytes, line: bytes = b"GET / HTTP/1.1") -> bytes:
    return line + b"\r\n" + b"".join(f + b"\r\n" for f in fields) + b"\r\n"


def _chunked(body: bytes) -> bytes:
    return POST + b"Transfer-Encoding: chunked\r\n\r\n" + body


SMUGGLE = b"GET /smuggled HTTP/1.1\r\nHost: test\r\n\r\n"

CASES: list[tuple[str, bytes, int]] = [
    # -- framing: Content-Length and Transfer-Encoding ------------------------------------
    ("cl-and-te", POST + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("te-and-cl", POST + b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400),
    ("cl-duplicate-same", POST + b"Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 400),
    ("cl-duplicate-different", POST + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400),
    ("cl-plus", POST + b"Content-Length: +5\r\n\r\nhello", 400),
    ("cl-hex", POST + b"Content-Length: 0x1\r\n\r\nh", 400),
    ("cl-list", POST + b"Content-Length: 1,1\r\n\r\nh", 400),
    ("cl-negative", POST + b"Content-Length: -1\r\n\r\n", 400),
    ("cl-inner-space", POST + b"Content-Length: 1 1\r\n\r\nhello world", 400),
    ("cl-empty", POST + b"Content-Length: \r\n\r\n", 400),
    ("cl-letters", POST + b"Content-Length: five\r\n\r\nhello", 400),
    ("cl-exponent", POST + b"Content-Length: 1e3\r\n\r\n", 400),
    ("cl-huge", POST + b"Content-Length: 99999999999999999999999\r\n\r\n", 400),
    ("cl-superscript-digit", POST + b"Content-Length: \xb2\r\n\r\nhi", 400),
    ("te-gzip", POST + b"Transfer-Encoding: gzip\r\n\r\n", 400),
    ("te-chunked-not-last", POST + b"Transfer-Encoding: chunked, gzip\r\n\r\n", 400),
    ("te-unknown-coding", POST + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
    ("te-chunked-twice", POST + b"Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400),
    ("te-identity", POST + b"Transfer-Encoding: identity\r\n\r\n", 400),
    ("te-xchunked", POST + b"Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 400),
    ("te-two-fields", POST + b"Transfer-Encoding: chunked\r\n" * 2 + b"\r\n", 400),
    ("te-http10", b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("te-vertical-tab", POST + b"Transfer-Encoding: chunked\x0b\r\n\r\n0\r\n\r\n", 400),
    # -- chunked bodies -------------------------------------------------------------------
    ("chunk-size-not-hex", _chunked(b"g\r\nhello\r\n0\r\n\r\n"), 400),
    ("chunk-size-0x", _chunked(b"0x5\r\nhello\r\n0\r\n\r\n"), 400),
    ("chunk-size-negative", _chunked(b"-1\r\nhello\r\n0\r\n\r\n"), 400),
    ("chunk-size-too-long", _chunked(b"10000000000000005\r\nhello\r\n0\r\n\r\n"), 400),
    ("chunk-size-trailing-space", _chunked(b"5 \r\nhello\r\n0\r\n\r\n"), 400),
    ("chunk-size-leading-space", _chunked(b" 5\r\nhello\r\n0\r\n\r\n"), 400),
    ("chunk-size-empty", _chunked(b"\r\nhello\r\n0\r\n\r\n"), 400),
    ("chunk-ext-empty-name", _chunked(b"5;\r\nhello\r\n0\r\n\r\n"), 400),
    ("chunk-ext-control", _chunked(b"5;a=\x01\r\nhello\r\n0\r\n\r\n"), 400),
    ("chunk-ext-spaces", _chunked(b"5;a b\r\nhello\r\n0\r\n\r\n"), 400),
    ("chunk-ext-open-quote", _chunked(b'5;a="b\r\nhello\r\n0\r\n\r\n'), 400),
    ("chunk-data-no-crlf", _chunked(b"5\r\nhelloXX0\r\n\r\n"), 400),
    ("chunk-data-too-long", _chunked(b"3\r\nhello\r\n0\r\n\r\n"), 400),
    ("chunk-size-bare-lf", _chunked(b"5\nhello\r\n0\r\n\r\n"), 400),
    ("chunk-trailer-obs-fold", _chunked(b"0\r\nX: a\r\n b\r\n\r\n"), 400),
    ("chunk-over-max-body", _chunked(b"400000\r\n" + b"x" * 100), 413),
    # -- field syntax ---------------------------------------------------------------------
    ("obs-fold", _head(H, b"X-Long: a", b" continued"), 400),
    ("obs-fold-tab", _head(H, b"X-Long: a", b"\tcontinued"), 400),
    ("bare-lf-everywhere", b"GET / HTTP/1.1\nHost: test\n\n", 400),
    ("bare-lf-in-fields", b"GET / HTTP/1.1\r\nHost: test\nX-A: b\r\n\r\n", 400),
    ("bare-cr-in-fields", b"GET / HTTP/1.1\r\nHost: test\rX-A: b\r\n\r\n", 400),
    ("bare-cr-in-value", _head(H, b"X-A: a\rb"), 400),
    ("nul-in-value", _head(H, b"X-A: a\x00b"), 400),
    ("nul-in-name", _head(H, b"X-\x00A: b"), 400),
    ("control-in-value", _head(H, b"X-A: a\x01b"), 400),
    ("escape-in-value", _head(H, b"X-A: a\x1bb"), 400),
    ("del-in-value", _head(H, b"X-A: a\x7fb"), 400),
    ("space-before-colon", _head(b"Host : test"), 400),
    ("tab-before-colon", _head(H, b"X-A\t: b"), 400),
    ("empty-name", _head(H, b": value"), 400),
    ("no-colon", _head(H, b"NoColonHere"), 400),
    ("bad-name-char", _head(H, b"X(A): b"), 400),
    ("non-ascii-name", _head(H, b"X-\xe9: b"), 400),
    ("missing-host", _head(), 400),
    ("duplicate-host", _head(H, H), 400),
    # -- request line ---------------------------------------------------------------------
    ("version-lowercase", _head(H, line=b"GET / http/1.1"), 400),
    ("version-1.10", _head(H, line=b"GET / HTTP/1.10"), 400),
    ("version-2.0", _head(H, line=b"GET / HTTP/2.0"), 505),
    ("version-0.9-style", _head(H, line=b"GET / HTTP/1"), 400),
    ("version-missing", _head(H, line=b"GET /"), 400),
    ("double-space", _head(H, line=b"GET  / HTTP/1.1"), 400),
    ("trailing-space", _head(H, line=b"GET / HTTP/1.1 "), 400),
    ("leading-space", _head(H, line=b" GET / HTTP/1.1"), 400),
    ("tab-separators", _head(H, line=b"GET\t/\tHTTP/1.1"), 400),
    ("method-bad-char", _head(H, line=b"G(ET / HTTP/1.1"), 400),
    ("method-nul", _head(H, line=b"GE\x00T / HTTP/1.1"), 400),
    ("target-control", _head(H, line=b"GET /a\x01b HTTP/1.1"), 400),
    ("target-no-slash", _head(H, line=b"GET index.html HTTP/1.1"), 400),
    ("target-fragment", _head(H, line=b"GET /a#b HTTP/1.1"), 400),
    ("target-non-ascii", _head(H, line=b"GET /\xff HTTP/1.1"), 400),
    ("target-asterisk-get", _head(H, line=b"GET * HTTP/1.1"), 400),
    ("target-ftp-scheme", _head(H, line=b"GET ftp://test/ HTTP/1.1"), 400),
    ("connect", _head(H, line=b"CONNECT test:443 HTTP/1.1"), 501),
    (
        "tls-handshake",
        b"\x16\x03\x01\x02\x00\x01" + b"\x00" * 40 + b"\r\n\r\n",
        400,
    ),
    # -- limits and expectations ----------------------------------------------------------
    ("request-line-too-long", _head(H, line=b"GET /" + b"a" * 9000 + b" HTTP/1.1"), 414),
    ("request-line-too-long-partial", b"GET /" + b"a" * 9000, 414),
    ("too-many-fields", _head(H, *[b"X-F%d: v" % i for i in range(101)]), 431),
    ("field-too-long", _head(H, b"X-Big: " + b"v" * 9000), 431),
    ("field-too-long-partial", b"GET / HTTP/1.1\r\nHost: test\r\nX-Big: " + b"v" * 9000, 431),
    ("body-over-max", POST + b"Content-Length: 4000000\r\n\r\n" + b"x" * 1000, 413),
    ("expect-unknown", POST + b"Expect: 200-ok\r\nContent-Length: 2\r\n\r\nhi", 417),
    (
        "expect-continue-over-max",
        POST + b"Expect: 100-continue\r\nContent-Length: 9999999\r\n\r\n",
        413,
    ),
]


@pytest.mark.parametrize(("payload", "status"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_request(http, payload, status):
    raw, closed = exchange(http, payload + SMUGGLE)
    assert status_of(raw) == status, raw[:300]
    assert raw.count(b"HTTP/1.1 ") == 1, "a second request was answered"
    assert b"\r\nConnection: close\r\n" in raw.split(b"\r\n\r\n", 1)[0] + b"\r\n"
    assert closed, "the server left the connection open"
    assert get(http, "/hello.txt").status == 200  # the next client is served


def test_table_is_large_enough():
    assert len(CASES) >= 60
    assert len({name for name, _, _ in CASES}) == len(CASES)
