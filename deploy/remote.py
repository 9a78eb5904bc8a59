"""Commands on one host over its SSH connection, and the Docker state the deploy keeps there.

State lives in Docker itself, nothing else on the host:
  - containers labelled deploy.project / deploy.service / deploy.port (the slot it listens on)
    and, for FTP, deploy.passive (its passive ports, FIRST-LAST); the running one is the live
    version;
  - two tags per service, `<project>-deploy/<service>:current` and `:previous`, so the image of
    the previous version stays on the host for `rollback`.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import shlex
from dataclasses import dataclass

import paramiko
from fabric import Connection

from .errors import DeployError
from .inventory import Host

log = logging.getLogger(__name__)

LABEL_PROJECT = "deploy.project"
LABEL_SERVICE = "deploy.service"
LABEL_PORT = "deploy.port"
LABEL_VERSION = "deploy.version"
LABEL_PASSIVE = "deploy.passive"
LABEL_METRICS = "deploy.metrics"  # SERVER_METRICS_LISTEN, with [monitoring]
VERSION_LABEL = "org.opencontainers.image.version"


@dataclass(frozen=True)
class Container:
    name: str
    image_id: str
    running: bool
    health: str  # healthy, unhealthy, starting, or "" without a health check
    port: int | None
    version: str
    labels: dict

    @property
    def serving(self) -> bool:
        """Running and not declared unhealthy: only containers that passed the deploy's gate
        run, so Docker's "starting" (its first check not yet due) counts as serving."""
        return self.running and self.health != "unhealthy"

    @property
    def passive(self) -> tuple[int, int] | None:
        """An FTP container's passive ports (first, last), from its label."""
        first, sep, last = self.labels.get(LABEL_PASSIVE, "").partition("-")
        if not (sep and first.isdigit() and last.isdigit()):
            return None
        return int(first), int(last)

    @classmethod
    def from_inspect(cls, data: dict) -> Container:
        labels = data["Config"].get("Labels") or {}
        state = data["State"]
        port = labels.get(LABEL_PORT)
        return cls(
            name=data["Name"].lstrip("/"),
            image_id=data["Image"],
            running=state.get("Running", False),
            health=(state.get("Health") or {}).get("Status", ""),
            port=int(port) if port and port.isdigit() else None,
            version=labels.get(LABEL_VERSION, ""),
            labels=labels,
        )


class Remote:
    """One host: run commands, read Docker's state. Every failure is a DeployError naming it."""

    def __init__(self, host: Host, conn: Connection):
        self.host, self.conn = host, conn

    def __str__(self) -> str:
        return self.host.name

    def close(self) -> None:
        self.conn.close()

    def run(self, command: str, *, check: bool = True, timeout: float | None = None):
        log.debug("%s$ %s", self.host, command)
        try:
            result = self.conn.run(command, hide=True, warn=True, in_stream=False, timeout=timeout)
        except Exception as exc:  # the connection dropped, or the command timed out
            raise DeployError(f"{self.host}: `{_short(command)}` failed: {exc}") from exc
        if check and not result.ok:
            last = (result.stderr.strip() or result.stdout.strip()).splitlines()[-1:] or ["?"]
            raise DeployError(f"{self.host}: `{_short(command)}` exited {result.exited}: {last[0]}")
        return result

    def docker(self, *args: str, check: bool = True, timeout: float | None = None) -> str:
        return self.run(shlex.join(["docker", *args]), check=check, timeout=timeout).stdout

    # -- images ---------------------------------------------------------------------------

    def image_id(self, ref: str) -> str | None:
        result = self.run(
            shlex.join(["docker", "image", "inspect", "--format", "{{.Id}}", ref]), check=False
        )
        if not result.ok:
            return None
        return result.stdout.strip() or None

    def inspect_image(self, ref: str) -> dict | None:
        result = self.run(shlex.join(["docker", "image", "inspect", ref]), check=False)
        if not result.ok:
            return None
        return json.loads(result.stdout)[0]

    def layer_chains(self) -> set[str]:
        """Chain IDs of every layer the host's images use: what a `docker load` can skip."""
        out = self.run(
            "docker image ls -q --no-trunc | sort -u | "
            "xargs -r docker image inspect --format '{{json .RootFS.Layers}}'",
            check=False,
        ).stdout
        chains: set[str] = set()
        for line in out.splitlines():
            try:
                chains.update(chain_ids(json.loads(line) or []))
            except ValueError:
                continue
        return chains

    def tag(self, image_id: str, ref: str) -> None:
        self.docker("tag", image_id, ref)

    # -- containers -----------------------------------------------------------------------

    def containers(self, project: str, **labels: str) -> list[Container]:
        filters = [f"label={LABEL_PROJECT}={project}"]
        filters += [f"label={k}={v}" for k, v in labels.items()]
        args = " ".join(f"--filter {shlex.quote(f)}" for f in filters)
        out = self.run(f'ids=$(docker ps -aq {args}); [ -z "$ids" ] || docker inspect $ids').stdout
        return [Container.from_inspect(d) for d in json.loads(out or "[]")]

    def inspect(self, name: str) -> dict | None:
        result = self.run(shlex.join(["docker", "inspect", name]), check=False)
        if not result.ok:
            return None
        return json.loads(result.stdout)[0]

    def logs(self, name: str, lines: int) -> str:
        result = self.run(
            shlex.join(["docker", "logs", "--tail", str(lines), name]) + " 2>&1", check=False
        )
        return result.stdout

    def remove(self, name: str) -> None:
        self.run(shlex.join(["docker", "rm", "-f", name]) + " >/dev/null 2>&1", check=False)

    def put_text(self, text: str, path: str, mode: int | None = None) -> None:
        """Write a file over SFTP (Fabric keeps one SFTP session per connection: not closed),
        then give it `mode` if asked."""
        try:
            sftp = self.conn.sftp()
            sftp.putfo(io.BytesIO(text.encode()), path)
            if mode is not None:
                sftp.chmod(path, mode)
        except (OSError, paramiko.SSHException) as exc:
            raise DeployError(f"{self.host}: cannot write {path}: {exc}") from exc

    def home(self) -> str:
        return self.run('printf %s "$HOME"').stdout.strip()


def chain_ids(diff_ids: list[str]) -> list[str]:
    """Docker's chain IDs: the first layer's is its diff ID, then sha256("<parent> <diff>")."""
    chains: list[str] = []
    for diff in diff_ids:
        if not chains:
            chains.append(diff)
        else:
            digest = hashlib.sha256(f"{chains[-1]} {diff}".encode()).hexdigest()
            chains.append(f"sha256:{digest}")
    return chains


def _short(command: str, limit: int = 80) -> str:
    return command if len(command) <= limit else command[: limit - 3] + "..."
