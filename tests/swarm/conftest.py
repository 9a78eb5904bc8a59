"""The swarm tests' world, set up once per session: three bare hosts (sshd + Docker, iptables
on, as a swarm node needs inside Docker) on a network made for this run, sharing one folder for
the FTP library (as NFS would), a key pair, known_hosts and TLS files for this run, the server
image in three versions, the nginx and Prometheus images, and a swarm inventory. Torn down
whatever happens.

node1 is the manager and the edge (nginx, its ports published in host mode; Prometheus and the
nginx exporter: [monitoring] is on); node2 and node3 are workers. HTTP comes through node1's
8080, published on 127.0.0.1; FTP connects to node1's address in the run's network (PASV names
that address and the passive ports, which 127.0.0.1 could only carry on the same numbers, those
of the compose cluster). Prometheus' UI is reached as a user does, through an SSH tunnel to
node1's loopback (its published SSH port).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "deploy"))

from deploy_hosts import REPO, BareHosts, build, make_key, remove_leftovers, tunnel
from fab_session import engine, fab, mark_session_tests, report_timings

PREFIX = "server-swarm-test"
BARE_HOST = f"{PREFIX}/bare-host:latest"
SERVER_BASE = f"{PREFIX}/server:base"
NGINX = f"{PREFIX}/nginx:latest"
PROMETHEUS = f"{PREFIX}/prometheus:latest"
NODES = ["node1", "node2", "node3"]
LIBRARY = "/srv/swarm-library"  # the shared folder, the same path on every node
HTTP_PORT = 8080
PROMETHEUS_PORT = 9090  # [monitoring] port: nginx on node1, for node1's own connections


def pytest_collection_modifyitems(config, items):
    """The tests on the swarm are `swarm` tests."""
    mark_session_tests(items, Path(__file__).parent, "swarm", "swarm")


def version_image(version: str) -> str:
    return f"{PREFIX}/server:{version}"


INVENTORY = """\
root = "{root}"

[ssh]
user = "deploy"
key = "{key}"
known_hosts = "{known_hosts}"
connect_timeout = 5

{hosts}
[swarm]
stack = "st"
endpoint_mode = "auto"
public_address = "{edge}"
library = "{library}"
timeout = 400
monitor = "5s"
replicas = {{ http-fork = 2, http-thread = 2 }}
healthcheck = {{ interval = "3s", timeout = "3s", start_period = "10s", retries = 2 }}

[monitoring]
port = {prometheus_port}
retention = "1h"
"""

HOST = """\
[hosts.{name}]
ssh = "127.0.0.1"
port = {port}
address = "{address}"
roles = ["{role}"]
labels = {labels}
"""


@dataclass
class Swarm:
    hosts: BareHosts
    workdir: Path
    key: Path
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def inventory(self) -> Path:
        return self.workdir / "inventory.toml"

    def node(self, name: str):
        return self.hosts.hosts[name]

    @property
    def http_port(self) -> int:
        return self.node("node1").published[f"{HTTP_PORT}/tcp"]

    @property
    def prometheus_port(self) -> int:
        return PROMETHEUS_PORT

    @property
    def edge(self) -> str:
        return self.node("node1").ip

    @property
    def tls_dir(self) -> Path:
        return self.workdir / "tls"

    def fab(self, *args: str, timeout: float = 600):
        """`fab swarm.TASK ...` as a user runs it, with this inventory (fab_session.fab);
        compose.yaml's TLS secrets come from this run's scripts/cluster-tls."""
        env = {"SWARM_INVENTORY": str(self.inventory), "CLUSTER_TLS_DIR": str(self.tls_dir)}
        return fab(*args, env=env, timeout=timeout)

    def deploy(self, version: str, timeout: float = 600):
        return self.fab(
            "swarm.deploy",
            "--no-build",
            "--image",
            f"server={version_image(version)}",
            "--image",
            f"nginx={NGINX}",
            "--image",
            f"prometheus={PROMETHEUS}",
            timeout=timeout,
        )

    def manager(self, *args: str) -> str:
        return self.node("node1").docker(*args)

    def tunnel(self, node: str, port: int):
        """127.0.0.1's port forwarded over SSH to `port` on `node`'s loopback (`ssh -L`)."""
        return tunnel(self.node(node), self.key, self.workdir / "known_hosts", port)


@pytest.fixture(scope="session")
def swarm_images():
    build(BARE_HOST, "docker/bare-host.Dockerfile")
    build(SERVER_BASE, "docker/server.Dockerfile")
    build(NGINX, "docker/nginx.Dockerfile")
    build(PROMETHEUS, "docker/prometheus.Dockerfile")
    dockerfile = "tests/deploy/version.Dockerfile"
    base = ("--build-arg", f"BASE={SERVER_BASE}")
    for version in ("v1", "v2"):
        build(version_image(version), dockerfile, *base, "--build-arg", f"VERSION={version}")
    build(
        version_image("v3"), dockerfile, *base, "--build-arg", "VERSION=v3", "--target", "unhealthy"
    )


@pytest.fixture(scope="session")
def swarm(swarm_images, tmp_path_factory):
    client = engine()
    remove_leftovers(client)
    workdir = tmp_path_factory.mktemp("swarm")
    key, public = make_key(workdir)
    hosts = BareHosts(client, BARE_HOST, {"DOCKERD_IPTABLES": "true"}, shared=LIBRARY)
    try:
        hosts.start(NODES, public, {"node1": [(f"{HTTP_PORT}/tcp", None)]})
        # the library belongs to the server's user (uid 10001), as an NFS export would
        hosts.hosts["node1"].container.exec_run(["chown", "10001:10001", LIBRARY])
        known_hosts = hosts.write_known_hosts(workdir / "known_hosts")
        s = Swarm(hosts, workdir, key)
        _write_inventory(s, key, known_hosts)
        tls = dict(os.environ, CLUSTER_TLS_DIR=str(s.tls_dir))
        subprocess.run([str(REPO / "scripts" / "cluster-tls")], check=True, env=tls, timeout=60)
        yield s
    finally:
        hosts.close()
        client.close()


def _write_inventory(s: Swarm, key: Path, known_hosts: Path) -> None:
    lines = []
    for name, host in s.hosts.hosts.items():
        role = "manager" if name == "node1" else "worker"
        labels = '{ edge = "true" }' if name == "node1" else "{}"
        lines.append(
            HOST.format(name=name, port=host.ssh_port, address=host.ip, role=role, labels=labels)
        )
    s.inventory.write_text(
        INVENTORY.format(
            root=REPO,
            key=key,
            known_hosts=known_hosts,
            hosts="\n".join(lines),
            edge=s.edge,
            library=LIBRARY,
            prometheus_port=PROMETHEUS_PORT,
        )
    )


def pytest_terminal_summary(terminalreporter):
    report_timings(terminalreporter, "swarm timings", getattr(pytest, "swarm_timings", None))
