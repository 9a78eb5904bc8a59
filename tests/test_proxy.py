"""The PROXY header reader (server/net/proxy.py): valid v1 and v2 headers, each kind of damage,
headers split over many reads, and the bytes after a header kept for the protocol."""

from __future__ import annotations

import ipaddress
import struct

import pytest

from server.net.proxy import V2_SIGNATURE, ProxyHeaderError, ProxyHeaderReader

SIX = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"


def v2(command=0x1, family=0x11, body=b"", version=2, length=None, signature=V2_SIGNATURE):
    """A v2 header: signature, version/command, family/transport, length, body."""
    size = len(body) if length is None else length
    return signature + bytes([version << 4 | command, family]) + struct.pack("!H", size) + body


def inet(source="203.0.113.7", destination="192.0.2.1", ports=(5555, 21)) -> bytes:
    packed = ipaddress.ip_address(source).packed + ipaddress.ip_address(destination).packed
    return packed + struct.pack("!HH", *ports)


def unix_body(source=b"/run/client.sock", destination=b"/run/server.sock") -> bytes:
    return source.ljust(108, b"\0") + destination.ljust(108, b"\0")


TLVS = b"\x04\x00\x03abc" + b"\x05\x00\x02xy"  # NOOP and UNIQUE_ID TLVs: skipped

VALID = {
    "v1 tcp4": (b"PROXY TCP4 203.0.113.7 192.0.2.1 5555 21\r\n", 1, ("203.0.113.7", 5555)),
    "v1 tcp6": (b"PROXY TCP6 2001:db8::7 2001:db8::1 5555 21\r\n", 1, ("2001:db8::7", 5555)),
    "v1 tcp6 compressed": (
        b"PROXY TCP6 2001:db8:0:0:0:0:0:7 ::1 1 21\r\n",
        1,
        ("2001:db8::7", 1),
    ),
    "v1 tcp6 ipv4-mapped": (
        b"PROXY TCP6 ::ffff:203.0.113.7 ::ffff:192.0.2.1 1 21\r\n",
        1,
        ("::ffff:203.0.113.7", 1),
    ),
    "v1 port 0 and 65535": (b"PROXY TCP4 203.0.113.7 192.0.2.1 0 65535\r\n", 1, ("203.0.113.7", 0)),
    "v1 unknown": (b"PROXY UNKNOWN\r\n", 1, None),
    "v1 unknown with addresses": (b"PROXY UNKNOWN 203.0.113.7 192.0.2.1 1 2\r\n", 1, None),
    "v1 longest (107 bytes)": (b"PROXY UNKNOWN " + b"x" * 91 + b"\r\n", 1, None),
    "v1 longest tcp6": (
        f"PROXY TCP6 {SIX} {SIX} 65535 65535\r\n".encode(),
        1,
        (SIX, 65535),
    ),
    "v2 inet": (v2(body=inet()), 2, ("203.0.113.7", 5555)),
    "v2 inet6": (
        v2(family=0x21, body=inet("2001:db8::7", "2001:db8::1")),
        2,
        ("2001:db8::7", 5555),
    ),
    "v2 inet6 ipv4-mapped": (
        v2(family=0x21, body=inet("::ffff:203.0.113.7", "::1")),
        2,
        ("::ffff:203.0.113.7", 5555),
    ),
    "v2 inet with tlvs": (v2(body=inet() + TLVS), 2, ("203.0.113.7", 5555)),
    "v2 unix": (v2(family=0x31, body=unix_body()), 2, "/run/client.sock"),
    "v2 local": (v2(command=0x0, family=0x00), 2, None),
    "v2 local ignores addresses": (v2(command=0x0, family=0x11, body=inet()), 2, None),
    "v2 proxy unspec": (v2(family=0x00), 2, None),
}


@pytest.mark.parametrize(("header", "version", "source"), VALID.values(), ids=VALID.keys())
def test_valid_headers(header, version, source):
    parsed = ProxyHeaderReader().feed(header)
    assert (parsed.version, parsed.source, parsed.rest) == (version, source, b"")


@pytest.mark.parametrize(("header", "version", "source"), VALID.values(), ids=VALID.keys())
def test_a_header_split_into_single_bytes_needs_its_last_byte(header, version, source):
    reader = ProxyHeaderReader()
    for i in range(len(header) - 1):
        assert reader.feed(header[i : i + 1]) is None, f"complete after {i + 1} bytes"
    parsed = reader.feed(header[-1:] + b"USER anonymous\r\n")
    assert (parsed.version, parsed.source) == (version, source)
    assert parsed.rest == b"USER anonymous\r\n"


@pytest.mark.parametrize(("header", "version", "source"), VALID.values(), ids=VALID.keys())
def test_bytes_after_the_header_are_kept(header, version, source):
    rest = b"GET / HTTP/1.1\r\n\r\n" + V2_SIGNATURE + b"PROXY TCP4"  # a second header is data
    parsed = ProxyHeaderReader().feed(header + rest)
    assert (parsed.source, parsed.rest) == (source, rest)


MALFORMED = {
    "http request": (b"GET / HTTP/1.1\r\n", "not a PROXY header"),
    "lower case": (b"proxy TCP4 203.0.113.7 192.0.2.1 1 2\r\n", "not a PROXY header"),
    "bad v2 signature": (v2(signature=V2_SIGNATURE[:-2] + b"X\n"), "not a PROXY header"),
    "LF only": (b"PROXY TCP4 203.0.113.7 192.0.2.1 5555 21\n", "missing CRLF"),
    "too long": (b"PROXY UNKNOWN " + b"x" * 92 + b"\r\n", "longer than 107"),
    "too long, no CRLF": (b"PROXY TCP4 " + b"1" * 200, "longer than 107"),
    "port above 65535": (b"PROXY TCP4 203.0.113.7 192.0.2.1 65536 21\r\n", "above 65535"),
    "destination port": (b"PROXY TCP4 203.0.113.7 192.0.2.1 1 99999\r\n", "above 65535"),
    "port leading zero": (b"PROXY TCP4 203.0.113.7 192.0.2.1 05555 21\r\n", "port '05555'"),
    "negative port": (b"PROXY TCP4 203.0.113.7 192.0.2.1 -1 21\r\n", "port '-1'"),
    "port not a number": (b"PROXY TCP4 203.0.113.7 192.0.2.1 http 21\r\n", "port 'http'"),
    "bad ipv4": (b"PROXY TCP4 203.0.113.256 192.0.2.1 1 2\r\n", "'203.0.113.256' is not IPv4"),
    "ipv4 leading zero": (b"PROXY TCP4 203.0.113.07 192.0.2.1 1 2\r\n", "is not IPv4"),
    "bad destination": (b"PROXY TCP4 203.0.113.7 192.0.2 1 2\r\n", "destination address"),
    "ipv6 in TCP4": (b"PROXY TCP4 2001:db8::7 192.0.2.1 1 2\r\n", "is not IPv4"),
    "ipv4 in TCP6": (b"PROXY TCP6 203.0.113.7 2001:db8::1 1 2\r\n", "is not IPv6"),
    "ipv6 zone": (b"PROXY TCP6 fe80::1%eth0 fe80::2 1 2\r\n", "is not IPv6"),
    "unknown protocol": (b"PROXY TCP5 203.0.113.7 192.0.2.1 1 2\r\n", "expected TCP4, TCP6"),
    "missing port": (b"PROXY TCP4 203.0.113.7 192.0.2.1 5555\r\n", "needs PROXY TCP4|TCP6"),
    "double space": (b"PROXY TCP4  203.0.113.7 192.0.2.1 1 2\r\n", "needs PROXY TCP4|TCP6"),
    "empty": (b"PROXY \r\n", "needs PROXY TCP4|TCP6"),
    "not ascii": ("PROXY TCP4 203.0.113.7 192.0.2.1 1 2\u00e9\r\n".encode(), "not ASCII"),
    "v2 version 1": (v2(version=1, body=inet()), "version 1, expected 2"),
    "v2 version 3": (v2(version=3, body=inet()), "version 3, expected 2"),
    "v2 command 2": (v2(command=0x2, body=inet()), "command 2"),
    "v2 family 4": (v2(family=0x41, body=inet()), "family/transport byte 0x41"),
    "v2 transport 3": (v2(family=0x13, body=inet()), "family/transport byte 0x13"),
    "v2 datagram": (v2(family=0x12, body=inet()), "datagram"),
    "v2 inet too short": (v2(body=inet()[:11]), "need 12 bytes, the header has 11"),
    "v2 inet6 too short": (v2(family=0x21, body=inet()), "need 36 bytes"),
    "v2 unix too short": (v2(family=0x31, body=inet()), "need 216 bytes"),
    "v2 length too large": (v2(length=4096, body=inet()), "4096 bytes"),
}


@pytest.mark.parametrize(("header", "reason"), MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_headers_name_the_problem(header, reason):
    with pytest.raises(ProxyHeaderError, match=reason.replace("|", r"\|")):
        ProxyHeaderReader().feed(header)


@pytest.mark.parametrize(("header", "reason"), MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_headers_fail_when_fed_byte_by_byte(header, reason):
    reader = ProxyHeaderReader()
    with pytest.raises(ProxyHeaderError, match=reason.replace("|", r"\|")):
        for i in range(len(header)):
            reader.feed(header[i : i + 1])


@pytest.mark.parametrize(
    ("start", "fails_at"),
    [(b"GET", 1), (b"PROXX", 5), (b"\r\n\r\n\x00\r\nQUI!", 11), (b"\r\r", 2)],
)
def test_a_wrong_start_fails_at_its_first_wrong_byte(start, fails_at):
    """Garbage is refused at once, not after the client sends 107 bytes or times out."""
    reader = ProxyHeaderReader()
    for i in range(fails_at - 1):
        assert reader.feed(start[i : i + 1]) is None
    with pytest.raises(ProxyHeaderError, match="not a PROXY header"):
        reader.feed(start[fails_at - 1 : fails_at])
