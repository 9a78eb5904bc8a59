"""The inventory's checks across tables: every service and the balancer have hosts, and no
host would use a port twice -- counting each service's two slots and, for FTP, its passive
ports (a host's own ranges where it runs the service, every host's ranges on a balancer host,
which listens on all of them). A clash is one line naming the port and both of its users."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from .errors import InventoryError
from .wiring import metrics_port, wired_names

if TYPE_CHECKING:
    from .inventory import Host, Inventory, Service

Use = tuple[str, int, str]  # (protocol, port, what uses it)


def check_layout(inv: Inventory) -> None:
    where = f"inventory {inv.path}"
    for svc in inv.services.values():
        if not inv.with_role(svc.roles):
            raise InventoryError(f"{where}: no host has a role of services.{svc.name}")
        _check_kind(inv, svc, where)
        for name in wired_names(inv, svc):
            if name in svc.env:
                raise InventoryError(f"{where}: services.{svc.name}.env.{name}: the deploy sets it")
    if not inv.balancer_hosts:
        raise InventoryError(f"{where}: no host has a role of the balancer ({inv.balancer.roles})")
    named = [h.name for h in inv.balancer_hosts if not _is_ip(h.address)]
    if inv.balancer.proxy_protocol and named:
        raise InventoryError(
            f"{where}: hosts.{named[0]}.address must be an IP address with "
            "balancer.proxy_protocol: the servers believe PROXY headers from it alone"
        )
    _first_clash(_listens(inv), f"{where}: two services listen on the same balancer port")
    for host in inv.hosts.values():
        _first_clash(_uses(inv, host), f"{where}: hosts.{host.name} would use a port twice")


def _check_kind(inv: Inventory, svc: Service, where: str) -> None:
    key = f"{where}: services.{svc.name}"
    if svc.tls_listen is not None and svc.kind != "http":
        raise InventoryError(f'{key}.tls_listen: only an HTTP service (kind = "http") has one')
    if svc.tls_listen is not None and inv.balancer.tls is None:
        raise InventoryError(
            f"{key}.tls_listen needs balancer.tls, the certificate: "
            'tls = { cert = "PATH", key = "PATH" }'
        )
    if svc.kind != "ftp":
        if svc.passive:
            raise InventoryError(f'{key}.passive: only an FTP service (kind = "ftp") has one')
        return
    if svc.passive is None:
        raise InventoryError(
            f"{key}.passive is required for FTP, e.g. {{ start = 40000, per_slot = 10 }}"
        )
    hosts = inv.with_role(svc.roles)
    last = svc.passive.start + 2 * len(hosts) * svc.passive.per_slot - 1
    if svc.passive.start < 1024 or last > 65535:
        raise InventoryError(
            f"{key}.passive: {len(hosts)} host(s) x 2 slots x {svc.passive.per_slot} ports "
            f"from {svc.passive.start} need ports {svc.passive.start}-{last}, outside 1024-65535"
        )
    if not inv.balancer.public_address:
        raise InventoryError(
            f"{where}: balancer.public_address is required for FTP (services.{svc.name}): "
            "the address clients reach the balancer at, which PASV advertises"
        )
    named = [h.name for h in hosts if not _is_ip(h.address)]
    if named and not inv.balancer.resolver:
        raise InventoryError(
            f"{where}: hosts.{named[0]}.address is a name, and nginx forwards FTP's passive "
            "ports to a variable port, which needs balancer.resolver (a DNS server's address) "
            "or an IP address"
        )


def _uses(inv: Inventory, host: Host) -> list[Use]:
    """Every (protocol, port) the host would listen on, with what listens there."""
    uses: list[Use] = []
    for svc in inv.services_on(host):
        uses += [(svc.protocol, p, f"services.{svc.name}.ports") for p in svc.ports]
        if svc.passive:
            uses += _passive_uses(inv, svc, [host], "")
        if inv.monitoring:
            what = f"the metrics listener of services.{svc.name} (monitoring.metrics_port)"
            uses += [("tcp", metrics_port(inv, svc, p), what) for p in svc.ports]
    if host in inv.balancer_hosts and inv.monitoring:
        uses.append(("tcp", int(inv.monitoring.listen.rpartition(":")[2]), "monitoring.listen"))
        uses.append(("tcp", inv.monitoring.exporter_port, "monitoring.exporter_port"))
    if host in inv.balancer_hosts:
        uses += _listens(inv)
        uses.append(("tcp", inv.balancer.status_port, "balancer.status_port"))
        for svc in inv.services.values():
            if svc.passive:
                uses += _passive_uses(inv, svc, inv.with_role(svc.roles), "the balancer's ")
    return uses


def _listens(inv: Inventory) -> list[Use]:
    """The balancer's ports: each service's `listen`, and `tls_listen` for HTTPS."""
    uses = [(s.protocol, s.listen, f"services.{s.name}.listen") for s in inv.services.values()]
    uses += [
        ("tcp", s.tls_listen, f"services.{s.name}.tls_listen")
        for s in inv.services.values()
        if s.tls_listen is not None
    ]
    return uses


def _passive_uses(inv: Inventory, svc: Service, hosts: list[Host], whose: str) -> list[Use]:
    uses = []
    for host in hosts:
        for slot in svc.ports:
            first, last = inv.passive_range(svc, host, slot)
            what = f"{whose}services.{svc.name}.passive {first}-{last} ({host.name}, slot {slot})"
            uses += [("tcp", port, what) for port in range(first, last + 1)]
    return uses


def _first_clash(uses: list[Use], message: str) -> None:
    seen: dict[tuple[str, int], str] = {}
    for protocol, port, what in uses:
        earlier = seen.get((protocol, port))
        if earlier is not None:
            raise InventoryError(f"{message}: {protocol} {port} ({earlier} and {what})")
        seen[protocol, port] = what


def _is_ip(address: str) -> bool:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True
