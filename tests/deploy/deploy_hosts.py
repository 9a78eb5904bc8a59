"""Bare hosts for the deploy tests: containers from docker/bare-host.Dockerfile, each with sshd
and its own Docker engine, in a network made for this run. The tests reach them only through
ports published on 127.0.0.1; the balancer reaches the app hosts at their addresses in the
network (IP addresses: nginx forwards FTP's passive ports to a variable port, with no resolver).

Everything made here carries the label LABEL_RUN (this run) and LABEL_PID (this process):
`BareHosts.close` removes this run's containers, network and volumes, and `remove_leftovers`
those of runs whose process is gone (a run that was killed before it could clean up).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import docker

PREFIX = "server-deploy-test"
LABEL_RUN = f"{PREFIX}.run"
LABEL_PID = f"{PREFIX}.pid"
BARE_HOST_IMAGE = f"{PREFIX}/bare-host:latest"
REPO = Path(__file__).resolve().parents[2]
SSH_PORT = "22/tcp"

Publish = tuple[str, int | None]  # ("7000/udp", 127.0.0.1's port, or None for any free one)


def build(tag: str, dockerfile: str, *args: str) -> None:
    """docker build from the repository root; a failure shows the build's last lines."""
    result = subprocess.run(
        ["docker", "build", "-q", "-t", tag, "-f", dockerfile, *args, "."],
        cwd=REPO,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=900,
    )
    if result.returncode != 0:
        tail = "\n".join(result.stderr.splitlines()[-15:])
        raise RuntimeError(f"docker build {tag} failed:\n{tail}")


def make_key(directory: Path) -> tuple[Path, str]:
    """A fresh ed25519 key pair: (private key file, public key line)."""
    key = Ed25519PrivateKey.generate()
    private = directory / "id_ed25519"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
    )
    private.chmod(0o600)
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return private, public.decode() + " deploy-tests"


@dataclass
class BareHost:
    name: str  # the inventory's name and the network alias
    container: docker.models.containers.Container
    ssh_port: int = 0
    published: dict[str, int] = field(default_factory=dict)  # "2121/tcp" -> 127.0.0.1's port
    host_key: str = ""  # "ssh-ed25519 AAAA..."
    ip: str = ""  # its address in the run's network (where the balancer reaches it)

    def known_hosts_line(self) -> str:
        return f"[127.0.0.1]:{self.ssh_port} {self.host_key}"

    def docker(self, *args: str) -> str:
        """Run docker inside this host (for assertions; the deploy itself uses SSH)."""
        code, out = self.container.exec_run(["docker", *args])
        if code != 0:
            raise RuntimeError(f"{self.name}: docker {' '.join(args)}: {out.decode()[-300:]}")
        return out.decode()


class BareHosts:
    """`image` and `environment` (beside AUTHORIZED_KEY) for every host; `shared`, a folder
    path: one volume mounted there in every host (storage the hosts share, as NFS would)."""

    def __init__(self, client: docker.DockerClient, image: str = BARE_HOST_IMAGE,
                 environment: dict[str, str] | None = None, shared: str | None = None):  # fmt: skip
        self.client, self.image, self.shared = client, image, shared
        self.environment = environment or {}
        self.run_id = secrets.token_hex(4)
        self.labels = {LABEL_RUN: self.run_id, LABEL_PID: str(os.getpid())}
        self.network = None
        self.volumes: list = []
        self.hosts: dict[str, BareHost] = {}

    def start(self, names: list[str], public_key: str, extra: dict[str, list[Publish]]) -> None:
        self.network = self.client.networks.create(
            f"{PREFIX}-{self.run_id}", driver="bridge", labels=self.labels
        )
        mounts = {}
        if self.shared:
            name = f"{PREFIX}-{self.run_id}-shared"
            volume = self.client.volumes.create(name, labels=self.labels)
            self.volumes.append(volume)
            mounts[volume.name] = {"bind": self.shared, "mode": "rw"}
        for name in names:
            volume = self.client.volumes.create(
                f"{PREFIX}-{self.run_id}-{name}-docker", labels=self.labels
            )
            self.volumes.append(volume)
            ports = {SSH_PORT: ("127.0.0.1", None)}
            ports.update({spec: ("127.0.0.1", port) for spec, port in extra.get(name, [])})
            container = self.client.containers.create(
                self.image,
                name=f"{PREFIX}-{self.run_id}-{name}",
                hostname=name,
                labels=self.labels,
                environment={**self.environment, "AUTHORIZED_KEY": public_key},
                # a nested engine without --privileged (which this machine refuses)
                cap_add=["ALL"],
                cap_drop=["SYS_RESOURCE"],
                security_opt=["seccomp=unconfined", "apparmor=unconfined"],
                init=True,
                volumes={volume.name: {"bind": "/var/lib/docker", "mode": "rw"}, **mounts},
                ports=ports,
                network=self.network.name,
                networking_config={
                    self.network.name: self.client.api.create_endpoint_config(aliases=[name])
                },
            )
            self.hosts[name] = BareHost(name, container)
            container.start()
        for host in self.hosts.values():
            self._wait_ready(host)

    def _wait_ready(self, host: BareHost, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            host.container.reload()
            if host.container.status != "running":
                break
            if b"Server listening" in host.container.logs():
                break
            time.sleep(0.5)
        logs = host.container.logs().decode(errors="replace")
        if host.container.status != "running" or "Server listening" not in logs:
            raise RuntimeError(f"bare host {host.name} did not come up:\n{logs[-2000:]}")
        settings = host.container.attrs["NetworkSettings"]
        for spec, bindings in settings["Ports"].items():
            if bindings:
                host.published[spec] = int(bindings[0]["HostPort"])
        host.ssh_port = host.published[SSH_PORT]
        host.ip = settings["Networks"][self.network.name]["IPAddress"]
        code, out = host.container.exec_run(["cat", "/etc/ssh/ssh_host_ed25519_key.pub"])
        assert code == 0, out
        host.host_key = " ".join(out.decode().split()[:2])

    def write_known_hosts(self, path: Path) -> Path:
        """known_hosts naming every host by its published SSH port."""
        path.write_text("".join(h.known_hosts_line() + "\n" for h in self.hosts.values()))
        return path

    def close(self) -> None:
        remove_run(self.client, LABEL_RUN, self.run_id)


@contextlib.contextmanager
def tunnel(host: BareHost, key: Path, known_hosts: Path, port: int):
    """A port on 127.0.0.1 forwarded over SSH (the host's published SSH port) to `port` on the
    host's loopback, as a user reaches a UI bound there (`ssh -L`); yields the local port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        local = probe.getsockname()[1]
    ssh = subprocess.Popen(
        ["ssh", "-N", "-i", str(key), "-p", str(host.ssh_port),
         "-o", f"UserKnownHostsFile={known_hosts}", "-o", "StrictHostKeyChecking=yes",
         "-o", "ExitOnForwardFailure=yes", "-o", "BatchMode=yes",
         "-L", f"127.0.0.1:{local}:127.0.0.1:{port}", "deploy@127.0.0.1"],
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            assert ssh.poll() is None, f"ssh -L to {host.name} exited {ssh.returncode}"
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", local)):
                break
            assert time.monotonic() < deadline, f"no tunnel to {host.name} after 20 s"
            time.sleep(0.2)
        yield local
    finally:
        ssh.terminate()
        ssh.wait(timeout=10)


def remove_run(client: docker.DockerClient, label: str, value: str) -> None:
    """Remove the containers, then the networks and volumes, labelled label=value."""
    selector = {"label": f"{label}={value}"}
    for container in client.containers.list(all=True, filters=selector):
        container.remove(force=True, v=True)
    for network in client.networks.list(filters=selector):
        network.remove()
    for volume in client.volumes.list(filters=selector):
        volume.remove(force=True)


def remove_leftovers(client: docker.DockerClient) -> None:
    """What earlier runs left behind because they were killed: their process is gone."""
    pids = set()
    for container in client.containers.list(all=True, filters={"label": LABEL_PID}):
        pids.add(container.labels.get(LABEL_PID, ""))
    for network in client.networks.list(filters={"label": LABEL_PID}):
        pids.add(network.attrs.get("Labels", {}).get(LABEL_PID, ""))
    for volume in client.volumes.list(filters={"label": LABEL_PID}):
        pids.add((volume.attrs.get("Labels") or {}).get(LABEL_PID, ""))
    for pid in pids:
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            remove_run(client, LABEL_PID, pid)
