"""What the deploy sets in a service's container so that it fits the balancer, from the
inventory (the inventory's own `env` may not set these: inventory.py refuses it):

  - FTP: SERVER_PASSIVE_PORTS, the container's range (a range per host and slot), and
    SERVER_MASQUERADE, the balancer's public address, which PASV advertises;
  - FTP and TCP with `balancer.proxy_protocol`: SERVER_PROXY_PROTOCOL=1, and
    SERVER_FORWARDED_ALLOW_IPS, the balancer hosts' addresses (whose PROXY headers are
    believed) and loopback (the health probe's own `PROXY UNKNOWN`);
  - with [monitoring]: SERVER_METRICS_LISTEN, the container's metrics port (one per service
    and slot), which Prometheus on the balancer hosts scrapes;
  - FTP with `balancer.tls`: SERVER_CERTFILE and SERVER_KEYFILE, the pair as the container
    mounts it (deploy/ftp_tls.py), so clients can AUTH TLS through the balancer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .tls import FILES

if TYPE_CHECKING:
    from .inventory import Host, Inventory, Service

PASSIVE_ENV = ("SERVER_PASSIVE_PORTS", "SERVER_MASQUERADE")
PROXY_ENV = ("SERVER_PROXY_PROTOCOL", "SERVER_FORWARDED_ALLOW_IPS")
METRICS_ENV = ("SERVER_METRICS_LISTEN",)
TLS_ENV = ("SERVER_CERTFILE", "SERVER_KEYFILE")
TLS_DIR = "/run/deploy-tls"  # where an FTP replica mounts the pair (read-only)
LOOPBACK = ("127.0.0.1", "::1")


def proxied(inv: Inventory, service: Service) -> bool:
    """Whether the balancer starts this service's connections with a PROXY header (UDP has
    no connection to start, HTTP has X-Forwarded-For)."""
    return inv.balancer.proxy_protocol and service.kind in ("ftp", "tcp")


def serves_tls(inv: Inventory, service: Service) -> bool:
    """Whether the service's replicas get the balancer's certificate: FTP's (HTTP's TLS ends
    at the balancer; FTP's passes through it)."""
    return service.kind == "ftp" and inv.balancer.tls is not None


def wired_names(inv: Inventory, service: Service) -> tuple[str, ...]:
    """The variables the deploy sets for this service."""
    names = PASSIVE_ENV if service.kind == "ftp" else ()
    names += METRICS_ENV if inv.monitoring else ()
    names += TLS_ENV if serves_tls(inv, service) else ()
    return names + (PROXY_ENV if proxied(inv, service) else ())


def metrics_port(inv: Inventory, service: Service, port: int) -> int:
    """The metrics listener's port of `service` in the slot `port` ([monitoring] only): two
    per service, laid out from monitoring.metrics_port in inventory order."""
    assert inv.monitoring is not None, "no [monitoring] in the inventory"
    index = list(inv.services).index(service.name)
    return inv.monitoring.metrics_port + 2 * index + service.ports.index(port)


def wired_env(inv: Inventory, service: Service, host: Host, port: int) -> dict[str, str]:
    env = {}
    if service.kind == "ftp":
        first, last = inv.passive_range(service, host, port)
        env["SERVER_PASSIVE_PORTS"] = f"{first}-{last}"
        env["SERVER_MASQUERADE"] = inv.balancer.public_address or ""
    if inv.monitoring:
        env["SERVER_METRICS_LISTEN"] = f"0.0.0.0:{metrics_port(inv, service, port)}"
    if proxied(inv, service):
        balancers = [h.address for h in inv.balancer_hosts]
        env["SERVER_PROXY_PROTOCOL"] = "1"
        env["SERVER_FORWARDED_ALLOW_IPS"] = ",".join([*LOOPBACK, *balancers])
    if serves_tls(inv, service):
        for name, file in zip(TLS_ENV, FILES, strict=True):
            env[name] = f"{TLS_DIR}/{file}"
    return env
