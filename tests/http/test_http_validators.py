"""Byte ranges and conditional requests, rule by rule."""

from __future__ import annotations

import pytest

from server.protocols.http.validators import (
    UNSATISFIABLE,
    etag_matches,
    http_timestamp,
    if_range_allows,
    make_etag,
    not_modified,
    parse_range,
)

ETAG = make_etag(1_700_000_000_123_456_789, 1000)
MTIME = 1_700_000_000.5
DATE = "Tue, 14 Nov 2023 22:13:20 GMT"  # == int(MTIME)


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        ("bytes=0-9", 100, (0, 9)),
        ("bytes=90-", 100, (90, 99)),
        ("bytes=-10", 100, (90, 99)),
        ("bytes=-1000", 100, (0, 99)),
        ("bytes=50-5000", 100, (50, 99)),
        ("bytes=99-99", 100, (99, 99)),
        ("BYTES = 0-1", 100, (0, 1)),
        ("bytes=100-", 100, UNSATISFIABLE),
        ("bytes=100-200", 100, UNSATISFIABLE),
        ("bytes=-0", 100, UNSATISFIABLE),
        ("bytes=-5", 0, UNSATISFIABLE),
        ("bytes=0-", 0, UNSATISFIABLE),
        ("bytes=5-1", 100, None),
        ("bytes=0-1,4-5", 100, None),
        ("bytes=-", 100, None),
        ("bytes=a-1", 100, None),
        ("bytes=+1-2", 100, None),
        ("bytes=1-2-3", 100, None),
        ("bytes=0x1-2", 100, None),
        ("lines=0-1", 100, None),
        ("bytes", 100, None),
        ("bytes=\u0661-2", 100, None),
    ],
)
def test_parse_range(header, size, expected):
    assert parse_range(header, size) == expected


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, False),
        ({"if-none-match": ETAG}, True),
        ({"if-none-match": f'"x", {ETAG}'}, True),
        ({"if-none-match": f"W/{ETAG}"}, True),
        ({"if-none-match": "*"}, True),
        ({"if-none-match": '"other"'}, False),
        ({"if-modified-since": DATE}, True),
        ({"if-modified-since": "Wed, 15 Nov 2023 00:00:00 GMT"}, True),
        ({"if-modified-since": "Mon, 13 Nov 2023 00:00:00 GMT"}, False),
        ({"if-modified-since": "not a date"}, False),
        ({"if-none-match": '"other"', "if-modified-since": DATE}, False),  # ETag wins
    ],
)
def test_not_modified(headers, expected):
    assert not_modified(headers, ETAG, MTIME) is expected


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, True),
        ({"if-range": ETAG}, True),
        ({"if-range": f"W/{ETAG}"}, False),  # weak tags never match If-Range
        ({"if-range": '"old"'}, False),
        ({"if-range": DATE}, True),
        ({"if-range": "Mon, 13 Nov 2023 00:00:00 GMT"}, False),
        ({"if-range": "garbage"}, False),
    ],
)
def test_if_range(headers, expected):
    assert if_range_allows(headers, ETAG, MTIME) is expected


def test_etag_and_dates():
    assert ETAG.startswith('"') and ETAG.endswith('"')
    assert make_etag(1, 2) != make_etag(1, 3) != make_etag(2, 3)
    assert etag_matches(" * ", ETAG, weak=False)
    assert http_timestamp(DATE) == int(MTIME)
    assert http_timestamp("") is None
