"""The PROXY protocol header (HAProxy's spec, versions 1 and 2), read sans-IO.

A load balancer that forwards TCP (nginx's stream `proxy_protocol on;`, HAProxy's
`send-proxy`) starts each connection with one header naming the client it accepted. Feed the
first bytes of a connection to `ProxyHeaderReader.feed`: it returns None while it needs more,
a `ProxyHeader` once the header is complete (with the bytes that followed it in the same reads,
which belong to the protocol behind it), or raises `ProxyHeaderError` whose message names what
is wrong. It is strict, as the spec asks: a receiver must not guess at a damaged header.

    v1: "PROXY TCP4 192.0.2.1 192.0.2.2 56324 443\\r\\n" (TCP6 alike; "PROXY UNKNOWN ...\\r\\n"),
        at most 107 bytes with the CRLF
    v2: a 12-byte signature, version/command, family/transport, a 16-bit length, addresses,
        then TLVs (skipped); LOCAL (health checks of the proxy itself) names no client
"""

from __future__ import annotations

import ipaddress
import os
import struct
from dataclasses import dataclass
from typing import Any

V1_PREFIX = b"PROXY "
V1_MAX = 107  # the spec's bound, CRLF included
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V2_FIXED = 16  # signature, version/command, family/transport, length
V2_MAX_LENGTH = 2048  # after the fixed part: addresses plus TLVs; the spec allows 65535
_V2_ADDRESSES = {0x1: (12, "!4s4sHH"), 0x2: (36, "!16s16sHH"), 0x3: (216, "108s108s")}
_V2_FAMILIES = {0x0: "UNSPEC", 0x1: "INET", 0x2: "INET6", 0x3: "UNIX"}
_STREAM, _V2_TRANSPORTS = 0x1, (0x0, 0x1, 0x2)
_LOCAL, _PROXY = 0x0, 0x1


class ProxyHeaderError(ValueError):
    """The bytes are not a valid PROXY header; the message says why."""


@dataclass(frozen=True)
class ProxyHeader:
    """A complete header.

    `source` is the client the proxy accepted: (host, port) as getpeername() gives it, a path
    for AF_UNIX, or None when the header names no client (v1 UNKNOWN, v2 LOCAL or UNSPEC) and
    the connection's own peer stands. `rest` is what followed the header.
    """

    version: int
    source: Any
    rest: bytes


class ProxyHeaderReader:
    """Bytes in until one header is complete; feed again only while it returns None."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> ProxyHeader | None:
        self._buffer += data
        buffer = self._buffer
        if buffer[:1] == V2_SIGNATURE[:1]:
            _expect_prefix(buffer, V2_SIGNATURE)
            return _read_v2(buffer)
        _expect_prefix(buffer, V1_PREFIX)
        return _read_v1(buffer)


def _expect_prefix(buffer: bytes, prefix: bytes) -> None:
    if buffer[: len(prefix)] != prefix[: len(buffer)]:
        raise ProxyHeaderError(f"not a PROXY header: starts with {buffer[:16]!r}")


# -- version 1 ----------------------------------------------------------------------------------
def _read_v1(buffer: bytes) -> ProxyHeader | None:
    end = buffer.find(b"\n", 0, V1_MAX)
    if end < 0:
        if len(buffer) >= V1_MAX:
            raise ProxyHeaderError(f"v1 header longer than {V1_MAX} bytes (no CRLF)")
        return None
    if buffer[end - 1 : end] != b"\r":
        raise ProxyHeaderError("v1 header ends in LF without CR (missing CRLF)")
    line, rest = buffer[: end - 1], buffer[end + 1 :]
    if not line.isascii():
        raise ProxyHeaderError("v1 header is not ASCII")
    return ProxyHeader(1, _v1_source(line.decode("ascii")), rest)


def _v1_source(line: str) -> tuple[str, int] | None:
    words = line.split(" ")
    if len(words) > 1 and words[1] == "UNKNOWN":
        return None  # the spec: whatever follows UNKNOWN is ignored
    if len(words) != 6:
        raise ProxyHeaderError(
            f"v1 header needs PROXY TCP4|TCP6 SRC DST SRCPORT DSTPORT, got {line[:60]!r}"
        )
    _, protocol, source, destination, source_port, destination_port = words
    version = {"TCP4": 4, "TCP6": 6}.get(protocol)
    if version is None:
        raise ProxyHeaderError(f"v1 protocol {protocol[:16]!r}: expected TCP4, TCP6 or UNKNOWN")
    host = _v1_address(source, version, "source")
    _v1_address(destination, version, "destination")
    port = _v1_port(source_port, "source")
    _v1_port(destination_port, "destination")
    return host, port


def _v1_address(text: str, version: int, which: str) -> str:
    kind = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
    try:
        if "%" in text:
            raise ValueError("zone ids are not addresses")
        return _as_socket_api_shows(kind(text))
    except ValueError:
        raise ProxyHeaderError(f"v1 {which} address {text[:46]!r} is not IPv{version}") from None


def _v1_port(text: str, which: str) -> int:
    if not (text.isdigit() and len(text) <= 5 and (text == "0" or text[0] != "0")):
        raise ProxyHeaderError(f"v1 {which} port {text[:8]!r} is not a decimal number")
    port = int(text)
    if port > 65535:
        raise ProxyHeaderError(f"v1 {which} port {port} is above 65535")
    return port


# -- version 2 ----------------------------------------------------------------------------------
def _read_v2(buffer: bytes) -> ProxyHeader | None:
    if len(buffer) < V2_FIXED:
        return None
    version_command, family_transport, length = struct.unpack_from("!BBH", buffer, 12)
    if version_command >> 4 != 2:
        raise ProxyHeaderError(f"v2 signature with version {version_command >> 4}, expected 2")
    command = version_command & 0xF
    if command not in (_LOCAL, _PROXY):
        raise ProxyHeaderError(f"v2 command {command}: expected LOCAL (0) or PROXY (1)")
    if length > V2_MAX_LENGTH:
        raise ProxyHeaderError(f"v2 header of {length} bytes (at most {V2_MAX_LENGTH} here)")
    if len(buffer) < V2_FIXED + length:
        return None
    body, rest = buffer[V2_FIXED : V2_FIXED + length], buffer[V2_FIXED + length :]
    source = _v2_source(family_transport, body) if command == _PROXY else None
    return ProxyHeader(2, source, rest)  # LOCAL: the proxy speaks for itself


def _v2_source(family_transport: int, body: bytes) -> Any:
    family, transport = family_transport >> 4, family_transport & 0xF
    if family not in _V2_FAMILIES or transport not in _V2_TRANSPORTS:
        raise ProxyHeaderError(f"v2 family/transport byte {family_transport:#04x} is unknown")
    if family == 0x0:
        return None  # UNSPEC: the spec says to use the connection's own addresses
    if transport != _STREAM:
        raise ProxyHeaderError(f"v2 {_V2_FAMILIES[family]} header for a datagram or no transport")
    size, layout = _V2_ADDRESSES[family]
    if len(body) < size:
        raise ProxyHeaderError(
            f"v2 {_V2_FAMILIES[family]} addresses need {size} bytes, the header has {len(body)}"
        )
    source, _destination, *ports = struct.unpack_from(layout, body)
    if family == 0x3:
        return os.fsdecode(source.split(b"\0", 1)[0])
    return _as_socket_api_shows(ipaddress.ip_address(source)), ports[0]


def _as_socket_api_shows(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """'::ffff:192.0.2.1' for an IPv4-mapped address, as getpeername() shows it (str() of an
    IPv6Address gives '::ffff:c000:201' on Python before 3.13)."""
    mapped = getattr(address, "ipv4_mapped", None)
    return f"::ffff:{mapped}" if mapped else str(address)
