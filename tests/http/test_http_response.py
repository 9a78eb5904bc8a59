"""Response heads: framing decisions, header hygiene, and handler return values."""

from __future__ import annotations

import json
from email.utils import formatdate

import pytest

from server.protocols.http import response as response_module
from server.protocols.http.errors import BadRequest, HTTPError, NotFound
from server.protocols.http.response import (
    Response,
    build_response,
    coerce,
    encode_fields,
    encode_head,
    error_response,
)

FIXED = "Server: test\r\n"


def head_of(response, keep=True, head_only=False):
    raw, keep, chunked, _ = encode_head(response, FIXED, keep, "HEAD" if head_only else "GET")
    lines = raw.decode("latin-1").split("\r\n")
    assert raw.endswith(b"\r\n\r\n")
    return lines[0], lines[1:-2], keep, chunked


@pytest.mark.parametrize(
    ("response", "keep_in", "head_only", "expect_line", "expect_keep", "chunked"),
    [
        (Response(b"abc"), True, False, "Content-Length: 3", True, False),
        (Response(b"abc"), False, False, "Connection: close", False, False),
        (Response(iter([b"a"])), True, False, "Transfer-Encoding: chunked", True, True),
        (Response(iter([b"a"])), False, False, "Connection: close", False, False),
        (Response(iter([b"a"])), True, True, "Connection: keep-alive", True, False),
        (Response(b"", 204), True, False, "Connection: keep-alive", True, False),
        (Response(b"", 304), True, False, "Connection: keep-alive", True, False),
        (Response(b"x", headers={"Connection": "close"}), True, False, "Connection: close", False,
         False),
        (Response(iter([b"a"]), headers={"Content-Length": "1"}), True, False,
         "Content-Length: 1", True, False),
    ],
)  # fmt: skip
def test_framing(response, keep_in, head_only, expect_line, expect_keep, chunked):
    status, lines, keep, is_chunked = head_of(response, keep_in, head_only)
    assert status == f"HTTP/1.1 {response.status}"
    assert expect_line in lines
    assert (keep, is_chunked) == (expect_keep, chunked)
    assert lines[0].startswith("Date: ") and "Server: test" in lines
    assert sum(line.lower().startswith("content-length") for line in lines) <= 1


def test_http10_clients_never_get_chunked():
    raw, keep, chunked, _ = encode_head(Response(iter([b"a"])), FIXED, True, "GET", "HTTP/1.0")
    assert (keep, chunked) == (False, False) and b"Transfer-Encoding" not in raw


def test_no_length_on_204_and_304():
    for code in (204, 304):
        _, lines, _, _ = head_of(Response(b"", code))
        assert not any(line.startswith("Content-Length") for line in lines)


def test_hop_by_hop_headers_are_dropped():
    response = Response(b"x", headers=[("Transfer-Encoding", "gzip"), ("Keep-Alive", "5")])
    _, lines, _, _ = head_of(response)
    assert not any(line.startswith(("Transfer-Encoding", "Keep-Alive")) for line in lines)


@pytest.mark.parametrize(
    "headers",
    [
        [("X-A", "a\r\nSet-Cookie: x")],
        [("X-A", "a\nb")],
        [("X\r\nB", "a")],
        [("X-A", "snow \u2603")],
        [("Content-Length", "12abc")],
        [("Content-Length", "2")],  # the body is 1 byte: the head would desync the stream
        [("X-A", 5)],
        ["not a pair"],
    ],
)
def test_unsafe_headers_are_a_500(headers):
    with pytest.raises(HTTPError) as raised:
        encode_head(Response(b"x", headers=headers), FIXED, True)
    assert raised.value.code == 500


def test_header_lists_are_checked_once_by_value_and_lists_of_lists_every_time():
    headers = [("X-A", "1"), ("Content-Length", "1"), ("Connection", "close")]
    first = head_of(Response(b"x", headers=headers))
    assert "X-A: 1" in first[1] and "Content-Length: 1" in first[1] and not first[2]
    assert head_of(Response(b"x", headers=headers)) == first  # remembered
    assert head_of(Response(b"x", headers=[list(pair) for pair in headers])) == first  # not
    headers.append(("X-B", "2"))  # the same list changed: its new value is checked
    assert "X-B: 2" in head_of(Response(b"x", headers=headers))[1]
    headers[0] = ("X-A", "a\r\nb")
    for _ in range(2):  # a refused list is refused again, never remembered
        with pytest.raises(HTTPError):
            encode_head(Response(b"x", headers=headers), FIXED, True)


@pytest.mark.parametrize(
    "headers",
    [
        [("X-A", ["a"])],
        [["X-A", ["a"]]],
        [("X-A", "1"), ["X-B", "a\nb"]],
        [("X-A", "snow \u2603")],
    ],
)
def test_bad_pairs_are_refused_from_either_road(headers):
    for _ in range(2):
        with pytest.raises(HTTPError) as raised:
            encode_head(Response(b"x", headers=headers), FIXED, True)
        assert raised.value.code == 500


def test_a_remembered_content_length_is_held_to_each_body():
    headers = [("Content-Length", "01")]
    assert "Content-Length: 1" in head_of(Response(b"x", headers=headers))[1]
    assert "Content-Length: 1" in head_of(Response(b"x", headers=headers))[1]  # remembered
    for _ in range(2):  # the same list, remembered, with a body it does not fit
        with pytest.raises(HTTPError):
            encode_head(Response(b"xy", headers=headers), FIXED, True)
    assert "Content-Length: 1" not in head_of(Response(b"", 204, headers=headers))[1]


def test_the_date_line_is_made_again_when_its_second_is_over_or_the_clock_goes_back(
    monkeypatch,
):
    date = response_module.DateHeader()
    monkeypatch.setattr(response_module, "DATE", date)
    for now in (1_700_000_000.25, 1_700_000_000.99, 1_700_000_001.0, 1_699_999_000.5, 5.0):
        monkeypatch.setattr(response_module, "_now", lambda now=now: now)
        assert head_of(Response(b"x"))[1][0] == f"Date: {formatdate(int(now), usegmt=True)}"
    assert (date.start, date.end) == (5.0, 6.0)


def test_pre_encoded_fields_go_out_as_the_same_head():
    pairs = [("Content-Type", "text/plain"), ("ETag", '"1-2"')]
    listed = build_response(200, "200 OK", list(pairs), b"ab")
    encoded = build_response(200, "200 OK", [], b"ab", fields=encode_fields(pairs))
    assert head_of(encoded) == head_of(listed)


@pytest.mark.parametrize(
    "pairs",
    [
        [("X-A", "a\r\nSet-Cookie: x")],
        [("X\nB", "a")],
        [("Content-Length", "2")],  # framing is decided per response, never pre-encoded
        [("Connection", "close")],
        [("X-A", 5)],
    ],
)
def test_fields_that_cannot_be_pre_encoded(pairs):
    with pytest.raises((HTTPError, ValueError)):
        encode_fields(pairs)


def test_a_head_answer_may_declare_the_get_length_without_a_body():
    _, lines, _, _ = head_of(Response(b"", headers=[("Content-Length", "6")]), head_only=True)
    assert "Content-Length: 6" in lines


@pytest.mark.parametrize(
    ("result", "status", "body", "content_type"),
    [
        (Response(b"r", 201), 201, b"r", None),
        ("text", 200, b"text", "text/plain; charset=utf-8"),
        (b"bytes", 200, b"bytes", "text/plain; charset=utf-8"),
        ({"a": 1}, 200, b'{"a": 1}', "application/json"),
        ([1, 2], 200, b"[1, 2]", "application/json"),
        ((202, {"X-A": "b"}, b"tuple"), 202, b"tuple", None),
    ],
)
def test_coerce(result, status, body, content_type):
    response = coerce(result)
    assert (response.code, response.body) == (status, body)
    if content_type:
        assert ("Content-Type", content_type) in response.headers


def test_coerce_refuses_other_values():
    with pytest.raises(HTTPError) as raised:
        coerce(42)
    assert raised.value.code == 500


def test_error_response_names_the_problem():
    response = error_response(BadRequest("duplicate Content-Length"))
    assert response.code == 400 and response.close
    assert response.body == b"400 Bad Request: duplicate Content-Length\n"
    not_found = error_response(NotFound("gone"))
    assert not not_found.close and json.dumps(not_found.status) == '"404 Not Found"'
