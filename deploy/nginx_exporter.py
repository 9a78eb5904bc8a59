"""The nginx exporter beside Prometheus on every balancer host ([monitoring]): Debian's
prometheus-nginx-exporter 0.11, in the Prometheus image (compose's `nginx-exporter` service runs
it the same way), reading the balancer's stub_status on 127.0.0.1:<balancer.status_port> (which
nginx serves on loopback only, for its own HEALTHCHECK) and serving it as Prometheus text on
127.0.0.1:<monitoring.exporter_port>, for the `nginx` job of deploy/prometheus.yml.in.
"""

from __future__ import annotations

import shlex

from .inventory import Inventory

ENTRYPOINT = "prometheus-nginx-exporter"


def address(inv: Inventory) -> str:
    """Where it listens: the balancer host's loopback (only Prometheus, beside it, reads it)."""
    assert inv.monitoring is not None, "no [monitoring] in the inventory"
    return f"127.0.0.1:{inv.monitoring.exporter_port}"


def probe(inv: Inventory) -> str:
    """Its health check: its metrics say it read nginx (`nginx_up 1`), not merely that it
    listens. The image has no HTTP client: bash's /dev/tcp sends the request."""
    host, _, port = address(inv).rpartition(":")
    script = (
        f'exec 3<>/dev/tcp/{host}/{port} && printf "GET /metrics HTTP/1.0\\r\\n\\r\\n" >&3 '
        '&& grep -q "^nginx_up 1" <&3'
    )
    return f"bash -c {shlex.quote(script)}"


def options(inv: Inventory) -> list[str]:
    """`docker run` options: the program, its health check."""
    return ["--entrypoint", ENTRYPOINT, "--health-cmd", probe(inv), "--health-interval", "10s"]


def command(inv: Inventory) -> list[str]:
    """Its arguments: the balancer's stub_status, retried while nginx starts (as compose's)."""
    status = f"http://127.0.0.1:{inv.balancer.status_port}/stub_status"
    return [
        f"-nginx.scrape-uri={status}",
        f"-web.listen-address={address(inv)}",
        "-nginx.retries=10",
    ]
