"""Which peers may speak for someone else: `--forwarded-allow-ips`, shared by every service.

The list is a comma list of IP addresses and CIDR networks, `*` for any peer, and `unix` for
peers on a Unix socket. HTTP believes X-Forwarded-For only from these peers; with
`--proxy-protocol`, every service accepts a PROXY header only from them.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from ..errors import ConfigError

_CACHE_SIZE = 4096


class TrustedPeers:
    """A parsed `--forwarded-allow-ips`; ConfigError naming the item that is not an address."""

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
        """Whether an IP address (text, as the socket API gives it) is trusted."""
        known = self._known.get(host)
        if known is None:
            known = self.any or self._in_networks(host)
            if len(self._known) < _CACHE_SIZE:
                self._known[host] = known
        return known

    def trusts_peer(self, peer: Any) -> bool:
        """Whether a connection's peer is trusted: a (host, port, ...) tuple for IP sockets,
        anything else (a path, '' or None) for Unix sockets."""
        if isinstance(peer, tuple):
            return self.trusts(peer[0])
        return self.unix

    def _in_networks(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host.partition("%")[0])
        except ValueError:
            return False
        if getattr(address, "ipv4_mapped", None):
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)
