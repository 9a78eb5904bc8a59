"""Prometheus on every balancer host (the inventory's [monitoring]), scraping every live
container's metrics listener (SERVER_METRICS_LISTEN, which the deploy sets: deploy/wiring.py).

Its files are in `<project>-deploy/monitoring` on the host: prometheus.yml (from
prometheus.yml.in), the compose cluster's recording rules (monitoring/rules.yml, the same
labels: `service`, `instance`) and targets.json (Prometheus' file_sd format), rewritten after
every switch from the containers the balancer sends traffic to. Prometheus reads that file again
when it changes: no restart, no reload. Its time series are in a named volume, so they survive a
new image; it listens on the host's network at `monitoring.listen` (loopback by default: reach
it through an SSH tunnel), with the cluster's status page at /consoles/cluster.html.
"""

from __future__ import annotations

import json
import shlex

from .errors import DeployError
from .fleet import Fleet
from .health import wait_healthy
from .images import LocalImage
from .remote import LABEL_PROJECT, Remote
from .templates import template
from .wiring import metrics_port

MOUNT = "/etc/prometheus/deploy"
CONSOLES = "/etc/prometheus/cluster/consoles"  # in the image: the cluster's status page
RULES = "monitoring/rules.yml"  # in the repository (the inventory's root)


def targets(fleet: Fleet) -> list[dict]:
    """file_sd groups: one per live container, labelled with its service and host."""
    inv = fleet.inv
    groups = []
    for host in inv.hosts.values():
        state = fleet.hosts.get(host.name)
        for service in inv.services_on(host) if state else []:
            live = state.live.get(service.name)
            if live and live.port and live.serving:
                address = f"{host.address}:{metrics_port(inv, service, live.port)}"
                labels = {"service": service.name, "host": host.name, "version": live.version}
                groups.append({"targets": [address], "labels": labels})
    return groups


class MonitoringHost:
    """Prometheus on one balancer host: its container and its folder."""

    def __init__(self, remote: Remote, fleet: Fleet):
        self.remote, self.fleet, self.inv = remote, fleet, fleet.inv
        self.container = f"{self.inv.settings.project}-prometheus"
        self.dir = f"{remote.home()}/{self.inv.settings.project}-deploy/monitoring"

    def __str__(self) -> str:
        return str(self.remote)

    def ensure(self, image: LocalImage) -> str | None:
        """Prometheus from `image` with the current files: "started", or None (as it was)."""
        self.remote.run(f"mkdir -p {shlex.quote(self.dir)}")
        mon = self.inv.monitoring
        config = template("prometheus.yml.in").substitute(mount=MOUNT, listen=mon.listen)
        self._put(config, "prometheus.yml")
        try:
            rules = (self.inv.root / RULES).read_text()
        except OSError as exc:
            raise DeployError(f"monitoring: cannot read {RULES}: {exc}") from None
        self._put(rules, "rules.yml")
        self.publish()
        data = self.remote.inspect(self.container)
        if data and data["State"].get("Running") and data["Image"] == image.id:
            return None
        self.remote.remove(self.container)
        self.remote.docker(*self._run_args(image))
        settings = self.inv.settings
        verdict = wait_healthy(
            self.remote, self.container, settings.health_timeout, settings.health_interval
        )
        if not verdict.healthy:
            raise DeployError(f"{self}: Prometheus did not become healthy ({verdict.reason})")
        return "started"

    def _run_args(self, image: LocalImage) -> list[str]:
        mon, project = self.inv.monitoring, self.inv.settings.project
        probe = f"promtool query instant http://{mon.listen} 'vector(1)' >/dev/null"
        return [
            "run", "-d", "--name", self.container, "--network", "host",
            "--restart", "unless-stopped",
            "--label", f"{LABEL_PROJECT}={project}", "--label", "deploy.role=monitoring",
            "--volume", f"{self.dir}:{MOUNT}:ro",
            "--volume", f"{project}-prometheus:/prometheus",
            "--health-cmd", probe, "--health-interval", "10s",
            image.id,
            f"--config.file={MOUNT}/prometheus.yml", "--storage.tsdb.path=/prometheus",
            f"--storage.tsdb.retention.time={mon.retention}",
            f"--storage.tsdb.retention.size={mon.retention_size}",
            f"--web.listen-address={mon.listen}",
            f"--web.console.templates={CONSOLES}", f"--web.console.libraries={CONSOLES}",
        ]  # fmt: skip

    def publish(self) -> None:
        """targets.json from the live containers, replaced in one rename (never half read)."""
        self._put(json.dumps(targets(self.fleet), indent=1) + "\n", "targets.json")

    def _put(self, text: str, name: str) -> None:
        path = f"{self.dir}/{name}"
        self.remote.put_text(text, f"{path}.next")
        self.remote.run(f"mv {shlex.quote(path + '.next')} {shlex.quote(path)}")


def monitors(fleet: Fleet) -> list[MonitoringHost]:
    """Prometheus on each balancer host; none without [monitoring]."""
    if fleet.inv.monitoring is None:
        return []
    return [MonitoringHost(bal.remote, fleet) for bal in fleet.balancers()]
