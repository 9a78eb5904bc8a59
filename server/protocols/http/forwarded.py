"""X-Forwarded-For / X-Forwarded-Proto, believed only from the proxies we are told to trust.

`--forwarded-allow-ips` is a comma list of IP addresses and CIDR networks, `*` for any peer,
and `unix` for peers on a Unix socket. The client is the right-most address in
X-Forwarded-For that is not itself a trusted proxy (each proxy appends the address it saw).
"""

from __future__ import annotations

import ipaddress

from ...errors import ConfigError
from .request import Request

_CACHE_SIZE = 4096


class TrustedProxies:
    def __init__(self, spec: str):
        items = [item.strip() for item in spec.split(",") if item.strip()]
        self.any = "*" in items
        self.unix = "unix" in items
        self.networks = []
        for item in items:
            if item in ("*", "unix"):
                continue
            try:
                self.networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ConfigError(
                    f"--forwarded-allow-ips: {item!r} is not an IP address or network"
                ) from None
        self._known: dict[str, bool] = {}

    def __bool__(self) -> bool:
        return self.any or self.unix or bool(self.networks)

    def trusts(self, host: str) -> bool:
        known = self._known.get(host)
        if known is None:
            known = self.any or self._in_networks(host)
            if len(self._known) < _CACHE_SIZE:
                self._known[host] = known
        return known

    def _in_networks(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host.partition("%")[0])
        except ValueError:
            return False
        if getattr(address, "ipv4_mapped", None):
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)

    def apply(self, request: Request) -> None:
        """Set request.remote_addr (and scheme) from the forwarding headers if we trust the peer."""
        headers = request.headers
        if "x-forwarded-for" not in headers and "x-forwarded-proto" not in headers:
            return
        peer = request.peer
        if not (self.unix if peer is None else self.trusts(peer[0])):
            return
        forwarded = headers.get("x-forwarded-for")
        if forwarded:
            hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
            client = next((hop for hop in reversed(hops) if not self.trusts(hop)), None)
            request.remote_addr = client or (hops[0] if hops else request.remote_addr)
        proto = headers.get("x-forwarded-proto", "").lower()
        if proto in ("http", "https"):
            request.scheme = proto
