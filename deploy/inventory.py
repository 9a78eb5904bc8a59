"""The inventory: hosts, their roles and SSH settings, the services and where they run, the
balancer. One TOML file (deploy/inventory.example.toml documents every key), read with the
standard library's tomllib and checked here, so a mistake is one line naming the key.

Nothing in the deploy knows a hostname: every address comes from this file."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import tls
from .errors import InventoryError
from .layout import check_layout
from .toml_section import Section

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_ENV_FIELDS = ("host", "address", "port", "service", "version", "project")
KINDS = ("http", "ftp", "tcp", "udp")  # how the balancer forwards a service (docs/deploy.md)


@dataclass(frozen=True)
class Ssh:
    """How the deployer logs in; [ssh] gives the defaults, a host may override any of them."""

    user: str = "deploy"
    port: int = 22
    key: str | None = None
    known_hosts: str = "~/.ssh/known_hosts"
    connect_timeout: float = 10.0


@dataclass(frozen=True)
class Host:
    name: str
    ssh_host: str  # where the deployer connects
    address: str  # where the balancer reaches this host's services
    roles: tuple[str, ...]
    ssh: Ssh

    def __str__(self) -> str:
        return self.name

    @property
    def endpoint(self) -> str:
        """The SSH endpoint as known_hosts names it."""
        if self.ssh.port == 22:
            return self.ssh_host
        return f"[{self.ssh_host}]:{self.ssh.port}"


@dataclass(frozen=True)
class Build:
    """`docker build` arguments, relative to the inventory's `root` (the repository)."""

    context: str = "."
    dockerfile: str | None = None
    args: dict[str, str] = field(default_factory=dict)
    target: str | None = None


@dataclass(frozen=True)
class Passive:
    """An FTP service's passive ports: `per_slot` ports for each host and slot, laid out from
    `start` in inventory order (host 1 slot 1, host 1 slot 2, host 2 slot 1, ...)."""

    start: int
    per_slot: int


@dataclass(frozen=True)
class Service:
    """An application service: one container per host with one of `roles`, behind the balancer
    on `listen`. Two `ports` (slots) let a new version start beside the old one. `kind` says
    how the balancer forwards it: http (proxied requests), ftp (control connections and each
    host's passive ports), tcp or udp (byte streams, datagrams)."""

    name: str
    image: str
    roles: tuple[str, ...]
    ports: tuple[int, int]
    listen: int
    kind: str = "http"
    passive: Passive | None = None
    build: Build | None = None
    command: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    health_cmd: str | None = None
    env_file: str | None = None  # on the host: where secrets go, never in this file
    tls_listen: int | None = None  # http: the balancer's HTTPS port for it (balancer.tls)

    def environment(self, **values: Any) -> dict[str, str]:
        """The env table with {host}, {port}, {version}, ... filled in."""
        out = {}
        for key, template in self.env.items():
            try:
                out[key] = template.format_map(values)
            except (KeyError, IndexError, ValueError) as exc:
                raise InventoryError(
                    f"services.{self.name}.env.{key}: bad placeholder {exc} in {template!r} "
                    f"(known: {', '.join('{' + f + '}' for f in _ENV_FIELDS)})"
                ) from None
        return out

    @property
    def protocol(self) -> str:
        return "udp" if self.kind == "udp" else "tcp"


@dataclass(frozen=True)
class Balancer:
    """nginx on every host with one of `roles`, on the host's network. `public_address` is
    where clients reach it (FTP's PASV advertises it); `resolver` is a DNS server for host
    addresses that are names, which nginx's passive-port forwarding resolves per connection."""

    image: str
    roles: tuple[str, ...]
    build: Build | None = None
    status_port: int = 8079
    workers: int = 1
    public_address: str | None = None
    resolver: str | None = None
    proxy_protocol: bool = False  # FTP and TCP connections start with a PROXY header
    tls: tls.Tls | None = None  # HTTPS: deploy/tls.py


@dataclass(frozen=True)
class Monitoring:
    """Prometheus on the balancer hosts (deploy/monitoring.py); each service's two metrics
    ports (one per slot) are laid out from `metrics_port` in inventory order."""

    image: str
    build: Build | None = None
    listen: str = "127.0.0.1:9090"  # its UI and API, on the balancer host
    metrics_port: int = 9100
    exporter_port: int = 9113  # the nginx exporter's, on the balancer host's loopback
    retention: str = "7d"
    retention_size: str = "512MB"


@dataclass(frozen=True)
class Settings:
    project: str = "server"
    health_timeout: float = 60.0
    health_interval: float = 1.0
    drain_timeout: float = 20.0
    stop_timeout: int = 15
    min_free_mb: int = 1024
    parallel_transfers: int = 3


@dataclass(frozen=True)
class Inventory:
    path: Path
    root: Path  # build contexts are relative to this
    settings: Settings
    hosts: dict[str, Host]
    services: dict[str, Service]
    balancer: Balancer
    monitoring: Monitoring | None = None

    def with_role(self, roles: tuple[str, ...]) -> list[Host]:
        return [h for h in self.hosts.values() if set(h.roles) & set(roles)]

    def services_on(self, host: Host) -> list[Service]:
        return [s for s in self.services.values() if set(s.roles) & set(host.roles)]

    def passive_range(self, service: Service, host: Host, port: int) -> tuple[int, int]:
        """The passive ports (first, last) of `service` on `host` in the slot `port`."""
        assert service.passive is not None, f"services.{service.name} has no passive ports"
        index = [h.name for h in self.with_role(service.roles)].index(host.name)
        first = service.passive.start + (2 * index + service.ports.index(port)) * (
            service.passive.per_slot
        )
        return first, first + service.passive.per_slot - 1

    @property
    def app_hosts(self) -> list[Host]:
        return [h for h in self.hosts.values() if self.services_on(h)]

    @property
    def balancer_hosts(self) -> list[Host]:
        return self.with_role(self.balancer.roles)

    def select(self, names: str | None) -> list[Host]:
        """Hosts named in a comma-separated list (all hosts for None), in inventory order."""
        if not names:
            return list(self.hosts.values())
        wanted = [n.strip() for n in names.split(",") if n.strip()]
        unknown = [n for n in wanted if n not in self.hosts]
        if unknown:
            raise InventoryError(f"unknown host(s) {', '.join(unknown)} (not in {self.path})")
        return [h for h in self.hosts.values() if h.name in wanted]


def load(path: str | Path) -> Inventory:
    path = Path(path).expanduser()
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise InventoryError(
            f"no inventory at {path} (copy deploy/inventory.example.toml, or pass --inventory)"
        ) from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InventoryError(f"inventory {path}: {exc}") from None
    return parse(data, path)


def parse(data: dict, path: Path) -> Inventory:
    section = Section(data, "", path)
    section.only("deploy", "ssh", "hosts", "services", "balancer", "monitoring", "root")
    root = (path.parent / section.get("root", str, ".")).resolve()
    ssh_table = section.table("ssh")
    ssh_table.only("user", "port", "key", "known_hosts", "connect_timeout")
    ssh = _ssh(ssh_table, Ssh())
    hosts = {name: _host(name, t, ssh) for name, t in section.tables("hosts")}
    services = {name: _service(name, t) for name, t in section.tables("services")}
    if not hosts:
        raise InventoryError(f"inventory {path}: no [hosts.NAME] table")
    if not services:
        raise InventoryError(f"inventory {path}: no [services.NAME] table")
    inv = Inventory(
        path=path,
        root=root,
        settings=_settings(section.table("deploy")),
        hosts=hosts,
        services=services,
        balancer=_balancer(section.table("balancer")),
        monitoring=_monitoring(section.table("monitoring")) if "monitoring" in data else None,
    )
    check_layout(inv)
    return inv


def _ssh(t: Section, base: Ssh) -> Ssh:
    return Ssh(
        user=t.get("user", str, base.user),
        port=t.get("port", int, base.port),
        key=t.get("key", str, base.key),
        known_hosts=t.get("known_hosts", str, base.known_hosts),
        connect_timeout=float(t.get("connect_timeout", (int, float), base.connect_timeout)),
    )


def _host(name: str, t: Section, ssh: Ssh) -> Host:
    t.only("ssh", "address", "roles", "user", "port", "key", "known_hosts", "connect_timeout")
    _check_name(name, t)
    ssh_host = t.require("ssh", str)
    return Host(
        name=name,
        ssh_host=ssh_host,
        address=t.get("address", str, ssh_host),
        roles=tuple(t.require("roles", list)),
        ssh=_ssh(t, ssh),
    )


def _service(name: str, t: Section) -> Service:
    t.only(
        "image", "roles", "ports", "listen", "kind", "passive", "build", "command", "env",
        "env_file", "health_cmd", "tls_listen",
    )  # fmt: skip
    _check_name(name, t)
    ports = t.require("ports", list)
    if len(ports) != 2 or len(set(ports)) != 2 or not all(isinstance(p, int) for p in ports):
        raise InventoryError(f"{t.where}.ports: two different port numbers, e.g. [8081, 8082]")
    kind = t.get("kind", str, "http")
    if kind not in KINDS:
        raise InventoryError(f"{t.where}.kind: {kind!r} is not one of {', '.join(KINDS)}")
    env = t.get("env", dict, {})
    return Service(
        name=name,
        image=t.require("image", str),
        roles=tuple(t.require("roles", list)),
        ports=(ports[0], ports[1]),
        listen=t.require("listen", int),
        kind=kind,
        passive=_passive(t.table("passive")) if "passive" in t.data else None,
        build=_build(t.table("build")) if "build" in t.data else None,
        command=tuple(t.get("command", list, [])),
        env={str(k): str(v) for k, v in env.items()},
        health_cmd=t.get("health_cmd", str, None),
        env_file=t.get("env_file", str, None),
        tls_listen=t.get("tls_listen", int, None),
    )


def _passive(t: Section) -> Passive:
    t.only("start", "per_slot")
    passive = Passive(start=t.require("start", int), per_slot=t.require("per_slot", int))
    if passive.per_slot < 1:
        raise InventoryError(f"inventory {t.path}: {t.where}.per_slot must be at least 1")
    return passive


def _balancer(t: Section) -> Balancer:
    t.only(
        "image", "roles", "build", "status_port", "workers", "public_address", "resolver",
        "proxy_protocol", "tls",
    )  # fmt: skip
    return Balancer(
        image=t.require("image", str),
        roles=tuple(t.get("roles", list, ["lb"])),
        build=_build(t.table("build")) if "build" in t.data else None,
        status_port=t.get("status_port", int, 8079),
        workers=t.get("workers", int, 1),
        public_address=t.get("public_address", str, None),
        resolver=t.get("resolver", str, None),
        proxy_protocol=t.get("proxy_protocol", bool, False),
        tls=tls.parse(t.table("tls")) if "tls" in t.data else None,
    )


def _monitoring(t: Section) -> Monitoring:
    t.only(*Monitoring.__dataclass_fields__)
    d, where = Monitoring(image=""), f"inventory {t.path}: {t.where}"
    listen = t.get("listen", str, d.listen)
    host, _, port = listen.rpartition(":")
    if not (host and port.isdigit() and 0 < int(port) < 65536):
        raise InventoryError(f"{where}.listen: HOST:PORT, e.g. {d.listen}")
    ports = {key: t.get(key, int, getattr(d, key)) for key in ("metrics_port", "exporter_port")}
    for key, number in ports.items():
        if not 1024 <= number <= 65000:
            raise InventoryError(f"{where}.{key}: 1024-65000")
    return Monitoring(
        image=t.require("image", str),
        build=_build(t.table("build")) if "build" in t.data else None,
        listen=listen,
        retention=t.get("retention", str, d.retention),
        retention_size=t.get("retention_size", str, d.retention_size),
        **ports,
    )


def _build(t: Section) -> Build:
    t.only("context", "dockerfile", "args", "target")
    return Build(
        context=t.get("context", str, "."),
        dockerfile=t.get("dockerfile", str, None),
        args={str(k): str(v) for k, v in t.get("args", dict, {}).items()},
        target=t.get("target", str, None),
    )


def _settings(t: Section) -> Settings:
    t.only(*Settings.__dataclass_fields__)
    d = Settings()
    num = (int, float)
    return Settings(
        project=_check_name(t.get("project", str, d.project), t),
        health_timeout=float(t.get("health_timeout", num, d.health_timeout)),
        health_interval=float(t.get("health_interval", num, d.health_interval)),
        drain_timeout=float(t.get("drain_timeout", num, d.drain_timeout)),
        stop_timeout=t.get("stop_timeout", int, d.stop_timeout),
        min_free_mb=t.get("min_free_mb", int, d.min_free_mb),
        parallel_transfers=t.get("parallel_transfers", int, d.parallel_transfers),
    )


def _check_name(name: str, t: Section) -> str:
    if not _NAME.match(name):
        raise InventoryError(f"{t.where}: {name!r} is not a name (lowercase, digits, - _ .)")
    return name
