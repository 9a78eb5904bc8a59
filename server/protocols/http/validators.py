"""Conditional requests and byte ranges for static files (RFC 9110 sections 13 and 14).

Pure functions of header values, so each rule is tested by a table.
"""

from __future__ import annotations

from email.utils import parsedate_to_datetime

UNSATISFIABLE = (-1, -1)


def make_etag(mtime_ns: int, size: int) -> str:
    return f'"{mtime_ns:x}-{size:x}"'


def not_modified(headers: dict[str, str], etag: str, mtime: float) -> bool:
    """True when a GET/HEAD may be answered 304. If-None-Match wins over If-Modified-Since."""
    match = headers.get("if-none-match")
    if match is not None:
        return etag_matches(match, etag, weak=True)
    since = headers.get("if-modified-since")
    if since is not None:
        stamp = http_timestamp(since)
        return stamp is not None and int(mtime) <= stamp
    return False


def etag_matches(header: str, etag: str, weak: bool) -> bool:
    """Does a list of entity tags (or `*`) match `etag`? Weak comparison ignores `W/`."""
    if header.strip() == "*":
        return True
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate.startswith("W/"):
            if not weak:
                continue
            candidate = candidate[2:]
        if candidate == etag:
            return True
    return False


def http_timestamp(value: str) -> int | None:
    """An HTTP date -> Unix seconds, or None when it is not a date."""
    try:
        return int(parsedate_to_datetime(value).timestamp())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def if_range_allows(headers: dict[str, str], etag: str, mtime: float) -> bool:
    """If-Range: honour Range only when the validator still matches (strong comparison)."""
    value = headers.get("if-range")
    if value is None:
        return True
    value = value.strip()
    if value.startswith(('"', "W/")):
        return etag_matches(value, etag, weak=False)
    stamp = http_timestamp(value)
    return stamp is not None and stamp == int(mtime)


def parse_range(value: str, size: int) -> tuple[int, int] | None:
    """A single `bytes=` range -> (first, last) inclusive; None: ignore the header (send all);
    UNSATISFIABLE: answer 416. Several ranges are ignored (a full 200 is a valid answer)."""
    unit, _, spec = value.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash or not _digits(first or "0") or not _digits(last or "0"):
        return None
    if not first:
        if not last:
            return None
        suffix = int(last)
        if suffix == 0 or size == 0:
            return UNSATISFIABLE
        return max(0, size - suffix), size - 1
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= size:
        return UNSATISFIABLE
    end = int(last) if last else size - 1
    return start, min(end, size - 1)


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()
