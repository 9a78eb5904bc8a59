"""The deploy tests' world, set up once per session: three app hosts and a balancer host (bare
hosts: sshd + Docker, nothing else), a key pair and known_hosts made for this run, the server
image in three versions, and an inventory naming them. Torn down whatever happens.

Every app host runs HTTP; app1 and app2 run FTP too, app3 echo over TCP and UDP (fewer
containers than every service everywhere: each one costs seconds to create on vfs). The
balancer host publishes, on 127.0.0.1, HTTP, HTTPS (a CA and certificate made for this run by
scripts/cluster-tls), FTP control (FTPS with the same certificate, which the deploy gives the FTP
replicas; their health gate probes ftps://) and echo on free ports, and FTP's passive ports on
the same numbers (PASV names them: they cannot be remapped)."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from deploy_hosts import BARE_HOST_IMAGE, PREFIX, REPO, BareHosts, build, make_key, remove_leftovers
from fab_session import engine, fab, mark_session_tests, report_timings

APP_HOSTS = ["app1", "app2", "app3"]
ROLES = {"app1": ["app", "ftp"], "app2": ["app", "ftp"], "app3": ["app", "echo"], "lb": ["lb"]}
CONTAINERS = 7  # on the app hosts: http x 3, ftp x 2, echo-tcp and echo-udp on app3
LB_HOST = "lb"
LB_PORT = 8080
LB_TLS_PORT = 8443  # HTTPS: services.http.tls_listen
FTP_PORT = 2121  # inside the balancer host; published on a free port
ECHO_PORT = 7000  # TCP and UDP
# 2 FTP hosts x 2 slots x 4 ports, published as they are: away from the compose cluster's
# 30000-30019 and below Linux's ephemeral ports (where Docker picks the free ones)
PASSIVE_START, PASSIVE_PER_SLOT = 31810, 4
PASSIVE_PORTS = range(PASSIVE_START, PASSIVE_START + 2 * 2 * PASSIVE_PER_SLOT)
SERVER_BASE = f"{PREFIX}/server:base"
NGINX_IMAGE = f"{PREFIX}/nginx:latest"
PROMETHEUS_IMAGE = f"{PREFIX}/prometheus:latest"  # built once here: deploys only send it
HEALTH_TIMEOUT = 90  # generous: on a loaded 2-core machine a healthy start can take 15 s
V3_HEALTH_TIMEOUT = 15  # how long the failing v3 gets before the deploy gives up on it


def pytest_collection_modifyitems(config, items):
    """The tests on bare hosts are `deploy` tests."""
    mark_session_tests(items, Path(__file__).parent, "cluster", "deploy")


def version_image(version: str) -> str:
    return f"{PREFIX}/server:{version}"


INVENTORY = """\
root = "{root}"

[deploy]
project = "dt"
health_timeout = {health_timeout}
health_interval = 1
drain_timeout = 20
stop_timeout = 10
min_free_mb = 512

[ssh]
user = "deploy"
key = "{key}"
known_hosts = "{known_hosts}"
connect_timeout = 5

{hosts}
[services.http]
roles = ["app"]
image = "{image}"
command = ["http"]
ports = [8081, 8082]
listen = {lb_port}
tls_listen = {lb_tls_port}

[services.http.env]
SERVER_MODEL = "thread"
SERVER_BIND = "0.0.0.0:{{port}}"
SERVER_ROOT = "/srv/library"
SERVER_PROBE_URL = "http://127.0.0.1:{{port}}/-/health"
SERVER_SERVED_BY = "{{host}}/{{version}}"
SERVER_GRACEFUL_TIMEOUT = "8"
SERVER_LOG_LEVEL = "warning"

[services.ftp]
kind = "ftp"
roles = ["ftp"]
image = "{image}"
command = ["ftp"]
ports = [2131, 2132]
listen = {ftp_port}
passive = {{ start = {passive_start}, per_slot = {passive_per_slot} }}

[services.ftp.env]
SERVER_MODEL = "thread"
SERVER_BIND = "0.0.0.0:{{port}}"
SERVER_ROOT = "/srv/library"
SERVER_USERS = "/etc/server/ftp-users"
SERVER_PROBE_URL = "ftps://127.0.0.1:{{port}}"
SERVER_GRACEFUL_TIMEOUT = "8"
SERVER_LOG_LEVEL = "info"

[services.echo-tcp]
kind = "tcp"
roles = ["echo"]
image = "{image}"
command = ["echo"]
ports = [7001, 7002]
listen = {echo_port}

[services.echo-tcp.env]
SERVER_MODEL = "thread"
SERVER_BIND = "0.0.0.0:{{port}}"
SERVER_PROBE_URL = "tcp://127.0.0.1:{{port}}"
SERVER_GRACEFUL_TIMEOUT = "8"

[services.echo-udp]
kind = "udp"
roles = ["echo"]
image = "{image}"
command = ["echo", "--udp"]
ports = [7001, 7002]
listen = {echo_port}

[services.echo-udp.env]
SERVER_MODEL = "select"
SERVER_BIND = "0.0.0.0:{{port}}"
SERVER_PROBE_URL = "udp://127.0.0.1:{{port}}"
SERVER_GRACEFUL_TIMEOUT = "8"

[balancer]
roles = ["lb"]
image = "{nginx}"
build = {{ context = ".", dockerfile = "docker/nginx.Dockerfile" }}
status_port = 8079
public_address = "127.0.0.1"
proxy_protocol = true
tls = {{ cert = "{tls_dir}/server.pem", key = "{tls_dir}/server.key" }}

[monitoring]
image = "{prometheus}"
metrics_port = 9300
"""

HOST = """\
[hosts.{name}]
ssh = "127.0.0.1"
port = {port}
address = "{address}"
roles = {roles}
"""


@dataclass
class Cluster:
    hosts: BareHosts
    workdir: Path
    key: Path
    known_hosts: Path
    tls_dir: Path  # ca.pem, server.pem, server.key (scripts/cluster-tls)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def inventory(self) -> Path:
        return self.workdir / "inventory.toml"

    def write_inventory(
        self, path: Path, known_hosts: Path | None = None, health_timeout: int = HEALTH_TIMEOUT
    ) -> Path:
        hosts = "\n".join(
            HOST.format(name=h.name, port=h.ssh_port, address=h.ip, roles=json.dumps(ROLES[h.name]))
            for h in self.hosts.hosts.values()
        )
        path.write_text(
            INVENTORY.format(
                root=REPO,
                health_timeout=health_timeout,
                key=self.key,
                known_hosts=known_hosts or self.known_hosts,
                hosts=hosts,
                image=version_image("v1"),
                lb_port=LB_PORT,
                lb_tls_port=LB_TLS_PORT,
                tls_dir=self.tls_dir,
                ftp_port=FTP_PORT,
                echo_port=ECHO_PORT,
                passive_start=PASSIVE_START,
                passive_per_slot=PASSIVE_PER_SLOT,
                nginx=NGINX_IMAGE,
                prometheus=PROMETHEUS_IMAGE,
            )
        )
        return path

    def fab(self, *args: str, inventory: Path | None = None, timeout: float = 600):
        """`fab TASK ...` as a user runs it, with this inventory (fab_session.fab)."""
        env = {"DEPLOY_INVENTORY": str(inventory or self.inventory)}
        return fab(*args, env=env, timeout=timeout)

    def app(self, name: str):
        return self.hosts.hosts[name]

    def port(self, spec: str) -> int:
        """The 127.0.0.1 port where the balancer's `spec` ("2121/tcp") is published."""
        return self.app(LB_HOST).published[spec]

    @property
    def lb_port(self) -> int:
        return self.port(f"{LB_PORT}/tcp")

    def balancer_errors(self, limit: int = 40) -> str:
        """nginx's lines that are not a 200 (its errors, and requests that failed)."""
        out = self.app(LB_HOST).docker("logs", "--tail", "5000", "dt-balancer")
        lines = [line for line in out.splitlines() if '" 200 ' not in line]
        return "\n".join(lines[-limit:])


@pytest.fixture(scope="session")
def docker_client():
    client = engine()
    yield client
    client.close()


@pytest.fixture(scope="session")
def images(docker_client):
    """The bare-host image, Prometheus, and the server in versions v1, v2 (healthy) and v3
    (never healthy)."""
    build(BARE_HOST_IMAGE, "docker/bare-host.Dockerfile")
    build(SERVER_BASE, "docker/server.Dockerfile")
    build(PROMETHEUS_IMAGE, "docker/prometheus.Dockerfile")
    dockerfile = "tests/deploy/version.Dockerfile"
    base = f"BASE={SERVER_BASE}"
    build(version_image("v1"), dockerfile, "--build-arg", base, "--build-arg", "VERSION=v1")
    build(version_image("v2"), dockerfile, "--build-arg", base, "--build-arg", "VERSION=v2")
    build(
        version_image("v3"),
        dockerfile,
        *("--build-arg", base, "--build-arg", "VERSION=v3", "--target", "unhealthy"),
    )


@pytest.fixture(scope="session")
def cluster(docker_client, images, tmp_path_factory):
    remove_leftovers(docker_client)
    workdir = tmp_path_factory.mktemp("deploy")
    key, public = make_key(workdir)
    hosts = BareHosts(docker_client)
    try:
        published = [(f"{LB_PORT}/tcp", None), (f"{LB_TLS_PORT}/tcp", None)]
        published += [(f"{FTP_PORT}/tcp", None)]
        published += [(f"{ECHO_PORT}/tcp", None), (f"{ECHO_PORT}/udp", None)]
        published += [(f"{port}/tcp", port) for port in PASSIVE_PORTS]
        hosts.start([*APP_HOSTS, LB_HOST], public, {LB_HOST: published})
        known_hosts = hosts.write_known_hosts(workdir / "known_hosts")
        tls_dir = workdir / "tls"
        env = {**os.environ, "CLUSTER_TLS_DIR": str(tls_dir)}
        subprocess.run([str(REPO / "scripts" / "cluster-tls")], env=env, check=True, timeout=60)
        c = Cluster(hosts, workdir, key, known_hosts, tls_dir)
        c.write_inventory(c.inventory)
        yield c
    finally:
        hosts.close()


def pytest_terminal_summary(terminalreporter):
    report_timings(terminalreporter, "deploy timings", getattr(pytest, "deploy_timings", None))
