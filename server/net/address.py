"""Parse and resolve `--bind` values: HOST:PORT, [IPV6]:PORT and unix:PATH; name peers in logs."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError


@dataclass(frozen=True)
class Address:
    """Where to listen: an inet host/port pair or a Unix socket path."""

    host: str = ""
    port: int = 0
    path: str = ""

    @property
    def is_unix(self) -> bool:
        return bool(self.path)

    def __str__(self) -> str:
        if self.is_unix:
            return f"unix:{self.path}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_address(text: str) -> Address:
    """Parse a bind/connect address, raising ConfigError with the reason on bad input."""
    text = text.strip()
    if text.startswith("unix:"):
        path = text[len("unix:") :]
        if not path:
            raise ConfigError(f"bad address {text!r}: unix: needs a path")
        return Address(path=path)
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
        if not sep:
            raise ConfigError(f"bad address {text!r}: expected [IPV6]:PORT")
    else:
        host, sep, port = text.rpartition(":")
        if not sep:
            raise ConfigError(f"bad address {text!r}: expected HOST:PORT or unix:PATH")
        if ":" in host:
            raise ConfigError(f"bad address {text!r}: put IPv6 hosts in brackets, [::1]:PORT")
    return Address(host=host or "0.0.0.0", port=_parse_port(port, text))


def _parse_port(port: str, text: str) -> int:
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"bad address {text!r}: port must be a number from 0 to 65535")
    return int(port)


def resolve(address: Address, kind: int) -> tuple[int, tuple]:
    """Return (family, sockaddr) for an inet address; the first result wins."""
    try:
        infos = socket.getaddrinfo(address.host, address.port, type=kind, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError(f"cannot resolve {address.host!r}: {exc.strerror}") from None
    family, _, _, _, sockaddr = infos[0]
    return family, sockaddr


def describe_peer(peer: Any) -> str:
    """A connection's peer for a log line: '192.0.2.1 port 4242', or its Unix socket."""
    if isinstance(peer, tuple):
        return f"{peer[0]} port {peer[1]}"
    return f"unix:{peer}" if peer else "a Unix socket"


def peername(sock: socket.socket) -> Any:
    """The connected peer's address; None when the socket cannot tell (already reset)."""
    try:
        return sock.getpeername()
    except OSError:
        return None
