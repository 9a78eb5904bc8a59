"""The compose cluster for the integration tests: one stack per session, driven from outside.

pytest-docker brings compose.yaml up under a project name of its own (so a developer's
`./cluster up` is never touched) and takes it down with its volume at the end. The tests reach
the stack only as a user would, through nginx's ports on 127.0.0.1; `docker compose` itself is
used only to stop, start and inspect containers.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from cluster_clients import HOST, PUBLISHED_TCP

ROOT = Path(__file__).resolve().parents[2]
UP_TIMEOUT = 300  # a cold build of both images takes about a minute on 2 cores
IN_CI = os.environ.get("CI") == "true"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def pytest_collection_modifyitems(config, items):
    """The test that takes the cluster down runs right after the other cluster tests, so the
    stack does not idle through the rest of the session."""
    last = [item for item in items if item.get_closest_marker("cluster_teardown")]
    for item in last:
        items.remove(item)
    here = Path(__file__).parent
    ours = [i for i, item in enumerate(items) if here in Path(str(item.path)).parents]
    at = ours[-1] + 1 if ours else len(items)
    items[at:at] = last


def pytest_configure(config):
    config.addinivalue_line("markers", "cluster_teardown: runs last; takes the cluster down")


@dataclass
class Cluster:
    """The running stack: compose commands scoped to its project, and a few look-ups."""

    project: str
    files: list[str]
    tls_dir: Path  # the CA and server certificate (scripts/cluster-tls), as `./cluster up` has

    @property
    def env(self) -> dict[str, str]:
        """For compose.yaml and ./cluster: where the certificate and key are."""
        return {"CLUSTER_TLS_DIR": str(self.tls_dir)}

    def compose(
        self, *args: str, timeout: float = 120, check: bool = True, env: dict | None = None
    ) -> str:
        command = ["docker", "compose", "-p", self.project]
        for path in self.files:
            command += ["-f", path]
        result = subprocess.run(
            [*command, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=ROOT,
            env={**os.environ, **self.env, **(env or {})},
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"docker compose {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout

    def recreate(self, service: str, **variables: str) -> None:
        """Run `service` again with compose.yaml's ${VARIABLES} set (none: the defaults)."""
        self.compose(
            "up", "--detach", "--no-deps", "--force-recreate", "--wait", service,
            env=variables, timeout=180,
        )  # fmt: skip

    def logs(self, *services: str, tail: int = 400) -> str:
        return self.compose("logs", "--no-color", "--tail", str(tail), *services, check=False)

    def log_line(self, services: str | list[str], *parts: str, timeout: float = 10) -> str:
        """The first recent log line of the service(s) that holds every one of `parts`."""
        names = [services] if isinstance(services, str) else services
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            logs = self.compose("logs", "--no-log-prefix", "--no-color", "--tail", "300", *names)
            for line in _ANSI.sub("", logs).splitlines():  # compose may erase lines: ESC [2K
                if all(part in line for part in parts):
                    return line
            time.sleep(0.5)
        raise AssertionError(f"no log line of {names} with {parts}")

    def address(self, service: str, network: str) -> str:
        """The service's address on one of the project's networks (`backend`, `frontend`)."""
        networks = self.container(service).attrs["NetworkSettings"]["Networks"]
        return networks[f"{self.project}_{network}"]["IPAddress"]

    def containers(self) -> list[dict]:
        """Every container of the project, stopped ones too, as the Docker API describes them."""
        return docker_client().containers.list(
            all=True, filters={"label": f"com.docker.compose.project={self.project}"}
        )

    def container(self, service: str):
        for container in self.containers():
            if container.labels.get("com.docker.compose.service") == service:
                return container
        raise LookupError(service)

    def leftovers(self) -> dict[str, list]:
        """The project's containers, networks and volumes that exist now."""
        client, label = docker_client(), {"label": f"com.docker.compose.project={self.project}"}
        return {
            "containers": client.containers.list(all=True, filters=label),
            "networks": client.networks.list(filters=label),
            "volumes": client.volumes.list(filters=label),
        }

    def health(self, service: str) -> str:
        container = self.container(service)
        container.reload()
        return container.attrs["State"].get("Health", {}).get("Status", "none")

    def wait_healthy(self, service: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while (status := self.health(service)) != "healthy":
            if time.monotonic() > deadline:
                raise TimeoutError(f"{service} is {status} after {timeout:g}s")
            time.sleep(0.5)


def docker_client():
    import docker  # the Docker SDK, only where the cluster is used

    return docker.from_env()


def _require_docker() -> None:
    """Skip (fail in CI) when this machine cannot run the cluster at all."""
    problem = None
    if shutil.which("docker") is None:
        problem = "no docker command"
    elif subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        problem = "the Docker daemon does not answer"
    if problem:
        if IN_CI:
            pytest.fail(f"cluster tests need Docker: {problem}")
        pytest.skip(f"cluster tests need Docker: {problem}")


def _require_free_ports() -> None:
    """The published ports are fixed: a cluster already up (./cluster up) holds them."""
    busy = []
    for port in PUBLISHED_TCP:
        with socket.socket() as sock:
            if sock.connect_ex((HOST, port)) == 0:
                busy.append(port)
    if busy:
        pytest.fail(f"ports {busy} on {HOST} are taken (is `./cluster up` running? ./cluster down)")


@pytest.fixture(scope="session")
def docker_compose_file():
    return [str(ROOT / "compose.yaml")]


@pytest.fixture(scope="session")
def docker_compose_project_name():
    return f"servertest-{os.getpid()}-{secrets.token_hex(3)}"


@pytest.fixture(scope="session")
def docker_setup():
    """Nothing here: `cluster` starts the stack, so a failed start is still taken down."""
    _require_docker()
    subprocess.run([str(ROOT / "scripts" / "setup-docker")], check=True, timeout=600)
    _require_free_ports()
    return []


@pytest.fixture(scope="session")
def docker_cleanup():
    return ["down --volumes --remove-orphans --timeout 20"]


@pytest.fixture(scope="session")
def cluster_tls_dir(tmp_path_factory) -> Path:
    """The session's own CA and server certificate, made as `./cluster up` makes them (not the
    developer's .cluster/tls)."""
    tls_dir = tmp_path_factory.mktemp("cluster-tls")
    env = {**os.environ, "CLUSTER_TLS_DIR": str(tls_dir)}
    subprocess.run([str(ROOT / "scripts" / "cluster-tls")], check=True, env=env, timeout=60)
    return tls_dir


@pytest.fixture(scope="session")
def cluster(
    docker_services, docker_compose_project_name, docker_compose_file, cluster_tls_dir
) -> Cluster:
    """The stack, built and up, every container healthy."""
    stack = Cluster(docker_compose_project_name, docker_compose_file, cluster_tls_dir)
    try:
        stack.compose(
            "up", "--build", "--detach", "--wait", "--wait-timeout", str(UP_TIMEOUT),
            timeout=UP_TIMEOUT + 300,
        )  # fmt: skip
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        status = stack.compose("ps", "--all", check=False)
        pytest.fail(f"cluster did not come up: {exc}\n{status}\n{stack.logs(tail=30)}")
    return stack
