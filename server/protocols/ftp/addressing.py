"""Data-connection addresses: PORT/EPRT arguments in, PASV/EPSV replies out, and the rules that
stop a client from pointing the server at someone else (FTP bounce, RFC 2577)."""

from __future__ import annotations

import ipaddress

from .replies import FTPReply

_PROTOCOLS = {"1": 4, "2": 6}  # RFC 2428 address family numbers


def plain_ip(host: str) -> str:
    """An address as compared and shown: ::ffff:1.2.3.4 is 1.2.3.4, zone ids dropped.

    Addresses here come from the socket API or from `ipaddress`, so they are canonical.
    """
    host = host.split("%", 1)[0]
    if host[:7].lower() == "::ffff:" and "." in host:
        return host[7:]
    return host


def is_ipv4(host: str) -> bool:
    return "." in plain_ip(host)


def _number(text: str, top: int) -> int | None:
    text = text.strip()
    if text.isascii() and text.isdigit() and int(text) <= top:
        return int(text)
    return None


def parse_port(arg: str) -> tuple[str, int]:
    """'h1,h2,h3,h4,p1,p2' -> ('h1.h2.h3.h4', p1 * 256 + p2)."""
    numbers = [_number(part, 255) for part in arg.split(",")]
    if len(numbers) != 6 or None in numbers:
        raise FTPReply(501, "Syntax error: PORT h1,h2,h3,h4,p1,p2 (six numbers 0-255).")
    return ".".join(map(str, numbers[:4])), numbers[4] * 256 + numbers[5]


def parse_eprt(arg: str) -> tuple[str, int]:
    """'|1|132.235.1.2|6275|' -> ('132.235.1.2', 6275); any delimiter (RFC 2428)."""
    text = arg.strip()
    fields = text.split(text[0]) if text else []
    if len(fields) != 5 or fields[0] or fields[4]:
        raise FTPReply(501, "Syntax error: EPRT |protocol|address|port|.")
    _, proto, host, port_text, _ = fields
    if proto not in _PROTOCOLS:
        raise FTPReply(522, "Network protocol not supported, use (1,2).")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise FTPReply(501, f"Syntax error: EPRT address {host[:64]!r} is not an IP.") from None
    if ip.version != _PROTOCOLS[proto]:
        raise FTPReply(501, f"Syntax error: {host} is not an IPv{_PROTOCOLS[proto]} address.")
    port = _number(port_text, 65535)
    if port is None:
        raise FTPReply(501, "Syntax error: EPRT port must be a number from 1 to 65535.")
    return str(ip), port


def check_active(host: str, port: int, peer: str) -> None:
    """Refuse (501) a data connection to anyone but the client, or to a privileged port."""
    if plain_ip(host) != plain_ip(peer):
        raise FTPReply(501, f"Rejected: data connection to {host}, not to your address.")
    if port < 1024:
        raise FTPReply(501, f"Rejected: data connection to privileged port {port}.")


def pasv_text(host: str, port: int) -> str:
    return f"Entering Passive Mode ({plain_ip(host).replace('.', ',')},{port >> 8},{port & 255})."


def epsv_text(port: int) -> str:
    return f"Entering Extended Passive Mode (|||{port}|)."


def epsv_protocol(arg: str, control_host: str) -> None:
    """Check EPSV's optional protocol number against the control connection's (522 if not)."""
    arg = arg.strip()
    if not arg:
        return
    if arg not in _PROTOCOLS:
        raise FTPReply(501, "Syntax error: EPSV [1|2|ALL].")
    family = 4 if is_ipv4(control_host) else 6
    if _PROTOCOLS[arg] != family:
        raise FTPReply(522, f"Network protocol not supported, use ({'1' if family == 4 else '2'}).")
