"""Prometheus on every balancer host (the inventory's [monitoring]), scraping every live
container's metrics listener (SERVER_METRICS_LISTEN, which the deploy sets: deploy/wiring.py).

Its files are in `<project>-deploy/monitoring` on the host: prometheus.yml (from
prometheus.yml.in), the compose cluster's recording rules (monitoring/rules.yml, the same
labels: `service`, `instance`) and targets.json (Prometheus' file_sd format), rewritten after
every switch from the containers the balancer sends traffic to. Prometheus reads that file again
when it changes: no restart, no reload. Its time series are in a named volume, so they survive a
new image; it listens on the host's network at `monitoring.listen` (loopback by default: reach
it through an SSH tunnel), with the cluster's status page at /consoles/cluster.html. Beside it
the nginx exporter (deploy/nginx_exporter.py) serves the balancer's stub_status.

Each container is started again only when what it was started with changes (its image, its
`docker run` arguments, and for Prometheus prometheus.yml and the rules, read only at start): a
label holds their digest, so a deploy that changes nothing leaves both running.
"""

from __future__ import annotations

import hashlib
import json
import shlex

from . import nginx_exporter
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
# what a container was started with (image aside): a deploy restarts it only when that changes
LABEL_FINGERPRINT = "deploy.fingerprint"


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
    """Prometheus and the nginx exporter on one balancer host: their containers and folder."""

    def __init__(self, remote: Remote, fleet: Fleet):
        self.remote, self.fleet, self.inv = remote, fleet, fleet.inv
        self.container = f"{self.inv.settings.project}-prometheus"
        self.exporter = f"{self.inv.settings.project}-nginx-exporter"
        self.dir = f"{remote.home()}/{self.inv.settings.project}-deploy/monitoring"

    def __str__(self) -> str:
        return str(self.remote)

    def ensure(self, image: LocalImage) -> list[str]:
        """The exporter and Prometheus from `image` with the current files and arguments: what
        was started (nothing when both ran so already)."""
        self.remote.run(f"mkdir -p {shlex.quote(self.dir)}")
        config, rules = self.config(), self._rules()
        self._put(config, "prometheus.yml")
        self._put(rules, "rules.yml")
        self.publish()
        inv, started = self.inv, []
        exporter = (nginx_exporter.options(inv), nginx_exporter.command(inv))
        if self._ensure(self.exporter, "the nginx exporter", image, *exporter):
            started.append(f"the nginx exporter {image.version} on {nginx_exporter.address(inv)}")
        prometheus = (self._options(), self._command())
        if self._ensure(self.container, "Prometheus", image, *prometheus, files=config + rules):
            started.append(f"Prometheus {image.version} on {inv.monitoring.listen}")
        return started

    def config(self) -> str:
        """prometheus.yml for this host: the replicas' targets.json, its nginx's exporter."""
        return template("prometheus.yml.in").substitute(
            mount=MOUNT, listen=self.inv.monitoring.listen, host=self.remote.host.name,
            exporter=nginx_exporter.address(self.inv),
        )  # fmt: skip

    def _rules(self) -> str:
        try:
            return (self.inv.root / RULES).read_text()
        except OSError as exc:
            raise DeployError(f"monitoring: cannot read {RULES}: {exc}") from None

    def _ensure(self, name: str, what: str, image: LocalImage, options: list[str],
                command: list[str], files: str = "") -> bool:  # fmt: skip
        """Run `name` from `image` unless it runs so already: the same image, options and
        command, and the same `files` (what it reads only at start). Started: once healthy."""
        started_with = json.dumps([options, command, files]).encode()
        fingerprint = hashlib.sha256(started_with).hexdigest()[:16]
        data = self.remote.inspect(name) or {"State": {}, "Config": {}}
        labels = data["Config"].get("Labels") or {}
        as_asked = data.get("Image") == image.id and labels.get(LABEL_FINGERPRINT) == fingerprint
        if data["State"].get("Running") and as_asked:
            return False
        self.remote.remove(name)
        self.remote.docker(
            "run", "-d", "--name", name, "--network", "host", "--restart", "unless-stopped",
            "--label", f"{LABEL_PROJECT}={self.inv.settings.project}",
            "--label", "deploy.role=monitoring", "--label", f"{LABEL_FINGERPRINT}={fingerprint}",
            *options, image.id, *command,
        )  # fmt: skip
        settings = self.inv.settings
        verdict = wait_healthy(self.remote, name, settings.health_timeout, settings.health_interval)
        if not verdict.healthy:
            raise DeployError(f"{self}: {what} did not become healthy ({verdict.reason})")
        return True

    def _options(self) -> list[str]:
        probe = f"promtool query instant http://{self.inv.monitoring.listen} 'vector(1)' >/dev/null"
        return [
            "--volume", f"{self.dir}:{MOUNT}:ro",
            "--volume", f"{self.inv.settings.project}-prometheus:/prometheus",
            "--health-cmd", probe, "--health-interval", "10s",
        ]  # fmt: skip

    def _command(self) -> list[str]:
        mon = self.inv.monitoring
        return [
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
    """Prometheus and the nginx exporter on each balancer host; none without [monitoring]."""
    if fleet.inv.monitoring is None:
        return []
    return [MonitoringHost(bal.remote, fleet) for bal in fleet.balancers()]
