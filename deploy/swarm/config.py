"""The swarm inventory: nodes (SSH as for `fab deploy`, a role, node labels), a [swarm]
table, and [monitoring] (Prometheus in the stack: deploy/swarm/monitoring.py).
deploy/swarm/inventory.example.toml documents every key; the checks are the deploy
inventory's (one line naming the key)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InventoryError
from ..inventory import Host, Ssh, _check_name, _host, _ssh
from ..toml_section import Section
from .monitoring import Monitoring

ROLES = ("manager", "worker")
ENDPOINT_MODES = ("auto", "vip", "dnsrr")
HEALTH_KEYS = ("interval", "timeout", "start_period", "retries")


@dataclass(frozen=True)
class Settings:
    stack: str = "server"
    compose: str = "compose.yaml"  # relative to the inventory's root
    endpoint_mode: str = "auto"  # auto: vip if every node has IP_VS, else dnsrr
    public_address: str | None = None  # where clients reach the edge nodes (FTP's PASV)
    library: str | None = None  # a folder shared by every node (NFS, ...), the same path
    timeout: float = 300.0  # seconds a deploy may take to converge
    monitor: str = "15s"  # update_config.monitor: how long a new task must stay up
    parallel_transfers: int = 3
    replicas: dict[str, int] = field(default_factory=dict)
    healthcheck: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Node:
    host: Host
    labels: dict[str, str]

    @property
    def role(self) -> str:
        return self.host.roles[0]

    def __str__(self) -> str:
        return self.host.name


@dataclass(frozen=True)
class SwarmInventory:
    path: Path
    root: Path
    nodes: dict[str, Node]
    settings: Settings
    monitoring: Monitoring | None = None  # off without [monitoring]

    @property
    def hosts(self) -> dict[str, Host]:
        """For deploy.fleet.Fleet, which connects to every host."""
        return {name: node.host for name, node in self.nodes.items()}

    def services_on(self, host: Host) -> list:
        """Fleet reads the containers of `fab deploy`'s services: a swarm node runs none."""
        return []

    @property
    def managers(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.role == "manager"]

    @property
    def compose(self) -> Path:
        return self.root / self.settings.compose


def load(path: str | Path) -> SwarmInventory:
    path = Path(path).expanduser()
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise InventoryError(
            f"no inventory at {path} (copy deploy/swarm/inventory.example.toml, or pass "
            "--inventory)"
        ) from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InventoryError(f"inventory {path}: {exc}") from None
    return parse(data, path)


def parse(data: dict, path: Path) -> SwarmInventory:
    section = Section(data, "", path)
    section.only("root", "ssh", "hosts", "swarm", "monitoring")
    ssh_table = section.table("ssh")
    ssh_table.only("user", "port", "key", "known_hosts", "connect_timeout")
    ssh = _ssh(ssh_table, Ssh())
    nodes = {name: _node(name, t, ssh) for name, t in section.tables("hosts")}
    if not any(n.role == "manager" for n in nodes.values()):
        raise InventoryError(f'inventory {path}: no host with roles = ["manager"]')
    return SwarmInventory(
        path=path,
        root=(path.parent / section.get("root", str, ".")).resolve(),
        nodes=nodes,
        settings=_settings(section.table("swarm")),
        monitoring=_monitoring(section.table("monitoring")) if "monitoring" in data else None,
    )


def _node(name: str, t: Section, ssh: Ssh) -> Node:
    labels = t.get("labels", dict, {})
    rest = Section({k: v for k, v in t.data.items() if k != "labels"}, t.where, t.path)
    host = _host(name, rest, ssh)
    if len(host.roles) != 1 or host.roles[0] not in ROLES:
        raise InventoryError(f"inventory {t.path}: {t.where}.roles: one of {list(ROLES)}")
    for key, value in labels.items():
        _check_name(key, t)
        if not isinstance(value, str):
            raise InventoryError(f"inventory {t.path}: {t.where}.labels.{key}: a string")
    return Node(host, dict(labels))


def _settings(t: Section) -> Settings:
    t.only(*Settings.__dataclass_fields__)
    d = Settings()
    mode = t.get("endpoint_mode", str, d.endpoint_mode)
    if mode not in ENDPOINT_MODES:
        raise InventoryError(f"inventory {t.path}: swarm.endpoint_mode: one of {ENDPOINT_MODES}")
    replicas = t.get("replicas", dict, {})
    if not all(isinstance(v, int) and v >= 0 for v in replicas.values()):
        raise InventoryError(f"inventory {t.path}: swarm.replicas: whole numbers, 0 or more")
    health = t.get("healthcheck", dict, {})
    extra = sorted(set(health) - set(HEALTH_KEYS))
    if extra:
        raise InventoryError(f"inventory {t.path}: unknown key swarm.healthcheck.{extra[0]}")
    return Settings(
        stack=_check_name(t.get("stack", str, d.stack), t),
        compose=t.get("compose", str, d.compose),
        endpoint_mode=mode,
        public_address=t.get("public_address", str, d.public_address),
        library=t.get("library", str, d.library),
        timeout=float(t.get("timeout", (int, float), d.timeout)),
        monitor=t.get("monitor", str, d.monitor),
        parallel_transfers=t.get("parallel_transfers", int, d.parallel_transfers),
        replicas=dict(replicas),
        healthcheck=dict(health),
    )


def _monitoring(t: Section) -> Monitoring:
    t.only(*Monitoring.__dataclass_fields__)
    d = Monitoring()
    port = t.get("port", int, d.port)
    if not 0 < port < 65536:
        raise InventoryError(f"inventory {t.path}: monitoring.port: 1-65535")
    return Monitoring(
        port=port,
        retention=t.get("retention", str, d.retention),
        retention_size=t.get("retention_size", str, d.retention_size),
    )
