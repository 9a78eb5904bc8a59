"""The balancer's `stream {}` block: FTP, TCP and UDP services.

Each service gets an upstream of its live slots and a server on its `listen` port, as HTTP
does. FTP also needs its data connections: each container listens on passive ports of its
own (the inventory lays them out per host and slot) and advertises the balancer's address, so
the balancer listens on every container's range and forwards each port to the same port on
that container's host (`proxy_pass ADDRESS:$server_port`). The old version's range stays
forwarded until it is stopped: a session that began there may still open a data connection.
"""

from __future__ import annotations

import ipaddress
import itertools

from .errors import DeployError
from .inventory import Inventory, Service
from .templates import indent, template
from .wiring import proxied

PLACEHOLDER = "server 127.0.0.1:9 down; # no host is live yet"

Upstreams = dict[str, list[tuple[str, int]]]  # service -> [(address, port)] in inventory order
Forward = tuple[str, int, int]  # an FTP container's passive ports: (address, first, last)
Forwards = dict[str, list[Forward]]  # FTP service -> its containers' forwards

# A host that stops answering costs a retry on the next one (proxy_next_upstream is on).
_CONNECT = "proxy_connect_timeout 3s;"
_OPTIONS = {
    # an FTP control connection sits idle while its data connection carries a long transfer
    "ftp": [_CONNECT, "proxy_timeout 10m;"],
    "tcp": [_CONNECT, "proxy_timeout 60s;"],
    # one datagram back per datagram, then the session ends (no table of idle "sessions")
    "udp": ["proxy_responses 1;", "proxy_timeout 5s;"],
}
_PASSIVE = [_CONNECT, "proxy_timeout 10m;"]


def server_lines(members: list[tuple[str, int]]) -> list[str]:
    """An upstream's members; three failures in a row (not one slow connect on a busy host)
    take a host out for 5 s. A switch never needs that: the old version stops only after it."""
    lines = [f"server {_host(addr)}:{port} max_fails=3 fail_timeout=5s;" for addr, port in members]
    return lines or [PLACEHOLDER]


def render(inv: Inventory, upstreams: Upstreams, forwards: Forwards) -> str:
    """The stream block, or "" when every service is HTTP."""
    services = [s for s in inv.services.values() if s.kind != "http"]
    if not services:
        return ""
    blocks = [_service(inv, s, upstreams.get(s.name) or []) for s in services]
    for service in services:
        ranges = _checked(service, forwards.get(service.name))
        blocks += [_passive(inv, service, *forward) for forward in ranges]
    resolver = inv.balancer.resolver
    return template("nginx-stream.conf.in").substitute(
        # names in proxy_pass with a variable are resolved per connection, by this server
        resolver=f"    resolver {resolver} valid=30s ipv6=off;\n" if resolver else "",
        services="".join(blocks),
    )


def _service(inv: Inventory, service: Service, members: list[tuple[str, int]]) -> str:
    balance = [] if service.kind == "udp" else ["least_conn;"]
    return template("nginx-stream-service.conf.in").substitute(
        name=service.name,
        kind=service.kind,
        servers=indent(balance + server_lines(members)),
        listen=f"{service.listen} udp" if service.kind == "udp" else service.listen,
        options=indent(_OPTIONS[service.kind] + _proxy(inv, service)),
    )


def _passive(inv: Inventory, service: Service, address: str, first: int, last: int) -> str:
    return template("nginx-passive.conf.in").substitute(
        name=service.name,
        address=address,
        first=first,
        last=last,
        target=_host(address),
        options=indent(_PASSIVE + _proxy(inv, service)),
    )


def _proxy(inv: Inventory, service: Service) -> list[str]:
    """The client's address, for the server's logs and limits, in a PROXY header first."""
    return ["proxy_protocol on;"] if proxied(inv, service) else []


def _checked(service: Service, ranges: list[Forward] | None) -> list[Forward]:
    """The ranges in port order; two that overlap (containers started before the inventory's
    hosts were reordered) would make nginx refuse the whole configuration: say why instead."""
    ordered = sorted(ranges or [], key=lambda r: r[1])
    for (a_addr, a_first, a_last), (b_addr, b_first, b_last) in itertools.pairwise(ordered):
        if b_first <= a_last:
            raise DeployError(
                f"{service.name}: passive ports {a_first}-{a_last} on {a_addr} overlap "
                f"{b_first}-{b_last} on {b_addr}: their containers were started with "
                "different inventories (hosts reordered or removed?); restore the order"
            )
    return ordered


def _host(address: str) -> str:
    """An address as nginx wants it beside a port: IPv6 in brackets."""
    try:
        return f"[{address}]" if ipaddress.ip_address(address).version == 6 else address
    except ValueError:
        return address  # a name
