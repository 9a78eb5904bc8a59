"""The swarm stack, generated from compose.yaml: one description of the services, never two.

compose.yaml stays the source of images, commands, environment, health checks, volumes and
networks. What Swarm needs on top, and what it refuses, is decided here:
  - `build`, `pull_policy`, `restart`, `depends_on`, `cpu_shares`, profiles: not Swarm's (the
    images arrive over SSH, restarts are `deploy.restart_policy`); the monitoring profile's
    services only with the inventory's [monitoring] (deploy/swarm/monitoring.py);
  - images by ID (`sha256:...`): a task never asks a registry for them, and a new version is a
    new ID, so `docker stack deploy` rolls exactly what changed;
  - `deploy`: replicas, endpoint_mode (vip where the kernel has IP_VS, dnsrr where it has not:
    docs/swarm.md), memory limits, placement, update_config / rollback_config with health;
  - published ports in `mode: host` on the edge nodes (the routing mesh needs IP_VS, and it
    would hide the client's address from nginx); Swarm binds them on every address of the node;
  - networks become overlays; configs and secrets get a name with their content's hash (Swarm
    cannot change one under a name), and secrets the server's uid (compose ignores it);
  - the library volume: a folder every node mounts at the same path (`library` in the
    inventory), or, without one, a local volume per node (docs/swarm.md says what that loses).
"""

from __future__ import annotations

import copy
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import DeployError
from . import monitoring
from .monitoring import Monitoring

STACK_VERSION = "3.8"  # Debian 12's docker.io (20.10) reads up to 3.9
VERSION_LABEL = "server.version"  # a service label: its image's version, for status and logs
EDGE_LABEL = "edge"  # node label of the nodes that may run a service with published ports
KEPT = (
    "image",
    "command",
    "entrypoint",
    "environment",
    "healthcheck",
    "stop_grace_period",
    "stop_signal",
    "logging",
    "init",
    "configs",
    "secrets",
    "volumes",
    "networks",
    "user",
    "working_dir",
)
FILE_KINDS = ("configs", "secrets")
SERVER_UID = "10001"
STOP_GRACE_PERIOD = "10s"  # Docker's default
#: Seconds a server task serves on after Swarm's TERM (--drain-delay) before it drains. Swarm
#: drops a task's address from DNS as it sends TERM; nginx renders its upstreams every 3 s and
#: reloads, and its stream resolver caches names for 5 s. A task that closed at once left nginx
#: connecting to an address nothing answered any more, until a try timed out (a 504).
DRAIN_DELAY = 6
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s)")
_UNIT_SECONDS = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
_DEFAULT = re.compile(r"\$\{(?P<var>\w+):-(?P<default>[^}]*)\}")
_PORT = re.compile(r"^(?:(?P<ip>[^:]+):)?(?P<host>[\d-]+):(?P<target>[\d-]+)(?:/(?P<proto>\w+))?$")


@dataclass(frozen=True)
class Image:
    """An image of the stack: compose's name for it, and the local image that is deployed."""

    compose_ref: str  # e.g. server-cluster/server:latest
    id: str  # sha256:...
    version: str


@dataclass
class Options:
    stack: str
    base: Path  # compose.yaml's folder: config files are relative to it
    images: dict[str, Image]  # compose ref -> the image deployed for it
    endpoint_mode: str = "dnsrr"  # or "vip"
    replicas: dict[str, int] = field(default_factory=dict)
    public_address: str | None = None  # FTP's PASV address (compose: 127.0.0.1)
    library: str | None = None  # a folder every node shares; None: a local volume per node
    healthcheck: dict[str, Any] = field(default_factory=dict)  # overrides for every service
    monitor: str = "15s"
    monitoring: Monitoring | None = None  # the inventory's [monitoring]: Prometheus too


def load_compose(path: Path) -> dict:
    """compose.yaml with its anchors and merge keys resolved (yaml.safe_load does both)."""
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise DeployError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("services"), dict):
        raise DeployError(f"{path}: no `services` table")
    return data


def services(compose: dict, monitored: bool = False) -> dict[str, dict]:
    """The services a stack runs: those without a profile (the default `up`), and with
    `monitored` those of the monitoring profile."""
    wanted = {monitoring.PROFILE} if monitored else set()
    return {
        n: s
        for n, s in compose["services"].items()
        if not s.get("profiles") or set(s["profiles"]) & wanted
    }


def render(compose: dict, opts: Options) -> tuple[dict, dict[str, bytes]]:
    """The stack as a dict (for yaml.safe_dump), and the files its configs and secrets name
    (file name -> content), which must sit beside the stack file on the manager."""
    chosen = copy.deepcopy(services(compose, monitored=opts.monitoring is not None))
    generated: dict[str, bytes] = {}
    if opts.monitoring:
        monitoring.prepare(chosen, opts.monitoring)
        generated = monitoring.files(opts.base)
    unknown = sorted(set(opts.replicas) - set(chosen))
    if unknown:
        raise DeployError(f"replicas for unknown service(s): {', '.join(unknown)}")
    for name, svc in chosen.items():
        # nginx forwards a passive range to the service by name: one task per range
        if (
            "SERVER_PASSIVE_PORTS" in (svc.get("environment") or {})
            and opts.replicas.get(name, 1) > 1
        ):
            raise DeployError(f"replicas for {name}: 1 at most (it has its own passive ports)")
    for name in set(opts.replicas) & set(monitoring.ON_EDGE):
        if opts.replicas[name] != 1:
            raise DeployError(f"replicas for {name}: 1 (monitoring runs once)")
    stack = {
        "version": STACK_VERSION,
        "services": {name: _service(name, svc, opts) for name, svc in chosen.items()},
        "networks": {name: _network(net) for name, net in (compose.get("networks") or {}).items()},
        "volumes": _volumes(compose, chosen, opts),
    }
    files: dict[str, bytes] = {}
    for kind in FILE_KINDS:
        declared, content = _files(compose, stack["services"], opts, kind, generated)
        if declared:
            stack[kind] = declared
            files.update(content)
    return stack, files


def _service(name: str, svc: dict, opts: Options) -> dict:
    """One service in Swarm's terms; one with published ports, or a monitoring one, runs on
    the edge nodes."""
    if svc.get("image") not in opts.images:
        raise DeployError(f"services.{name}: no image for {svc.get('image')!r}")
    image = opts.images[svc["image"]]
    out = {k: copy.deepcopy(v) for k, v in svc.items() if k in KEPT}
    out["image"] = image.id
    # Docker's default, written out: Swarm writes it into a spec it updates where the spec that
    # created the service had none, so a no-op deploy would leave a "changed" spec behind
    out.setdefault("stop_grace_period", STOP_GRACE_PERIOD)
    out["environment"] = _environment(dict(svc.get("environment") or {}), opts)
    if "SERVER_GRACEFUL_TIMEOUT" in out["environment"]:  # a server: it drains on TERM
        out["environment"]["SERVER_DRAIN_DELAY"] = str(DRAIN_DELAY)
        out["stop_grace_period"] = _longer(name, out["stop_grace_period"], DRAIN_DELAY)
    if "healthcheck" in out and opts.healthcheck:
        out["healthcheck"].update(opts.healthcheck)
    for kind in FILE_KINDS:
        if kind in out:
            out[kind] = [_file_ref(kind, c) for c in out[kind]]
    ports = [p for spec in svc.get("ports", []) for p in _ports(name, spec)]
    if ports:
        out["ports"] = ports
    edge = bool(ports) or name in monitoring.ON_EDGE
    out["deploy"] = _deploy(name, svc, opts, image, edge=edge)
    return out


def _environment(env: dict, opts: Options) -> dict:
    env = {k: "" if v is None else str(v) for k, v in env.items()}
    if "SERVER_SERVED_BY" in env:
        # Swarm fills these in per task: which node, which version answered (tests and logs)
        env["SERVER_SERVED_BY"] += (
            f'/{{{{.Node.Hostname}}}}/{{{{index .Service.Labels "{VERSION_LABEL}"}}}}'
        )
    if "SERVER_MASQUERADE" in env and opts.public_address:
        env["SERVER_MASQUERADE"] = opts.public_address
    return env


def _longer(name: str, duration: str, seconds: float) -> str:
    """A Docker duration (`15s`, `1m30s`) made `seconds` longer."""
    parts = _DURATION.findall(str(duration))
    if not parts or "".join(n + u for n, u in parts) != str(duration):
        raise DeployError(f"services.{name}.stop_grace_period: cannot read {duration!r}")
    total = sum(float(n) * _UNIT_SECONDS[u] for n, u in parts) + seconds
    return f"{total:g}s"


def _deploy(name: str, svc: dict, opts: Options, image: Image, edge: bool) -> dict:
    limits = ((svc.get("deploy") or {}).get("resources") or {}).get("limits") or {}
    # A host port is held by the running task: its successor can start only after it stopped
    # (start-first would leave the new task pending forever). Without one, start-first keeps
    # every replica serving while the new one becomes healthy.
    order = "stop-first" if edge else "start-first"
    update = {"parallelism": 1, "delay": "0s", "order": order, "monitor": opts.monitor}
    deploy: dict[str, Any] = {
        "mode": "replicated",
        "replicas": opts.replicas.get(name, 1),
        "endpoint_mode": opts.endpoint_mode,
        "labels": {VERSION_LABEL: image.version},
        "restart_policy": {"condition": "any", "delay": "2s"},
        "update_config": update | {"failure_action": "rollback", "max_failure_ratio": 0},
        "rollback_config": update | {"failure_action": "pause"},
        "placement": {"preferences": [{"spread": "node.id"}]},
    }
    if "memory" in limits:
        deploy["resources"] = {"limits": {"memory": str(limits["memory"])}}
    if edge:
        deploy["placement"]["constraints"] = [f"node.labels.{EDGE_LABEL} == true"]
        deploy["placement"]["max_replicas_per_node"] = 1
    return deploy


def _ports(name: str, spec: Any) -> list[dict]:
    """Short syntax (`[IP:]HOST:TARGET[/PROTO]`, ranges too) as host-mode port entries."""
    match = _PORT.match(str(spec)) if not isinstance(spec, dict) else None
    if match is None:
        raise DeployError(f"services.{name}.ports: cannot read {spec!r} (use IP:HOST:TARGET)")
    hosts, targets = _span(match["host"]), _span(match["target"])
    if len(hosts) != len(targets):
        raise DeployError(f"services.{name}.ports: {spec!r}: ranges of different lengths")
    proto = match["proto"] or "tcp"
    return [
        {"target": t, "published": h, "protocol": proto, "mode": "host"}
        for h, t in zip(hosts, targets, strict=True)
    ]


def _span(text: str) -> list[int]:
    first, _, last = text.partition("-")
    return list(range(int(first), int(last or first) + 1))


def _network(net: dict | None) -> dict:
    out: dict[str, Any] = {"driver": "overlay"}
    if (net or {}).get("internal"):
        out["internal"] = True
    return out


def _volumes(compose: dict, chosen: dict[str, dict], opts: Options) -> dict:
    used = {str(v).split(":", 1)[0] for svc in chosen.values() for v in svc.get("volumes", [])}
    out: dict[str, Any] = {}
    for name in sorted(used & set(compose.get("volumes") or {})):
        out[name] = {}
        if name == "library" and opts.library:
            # the shared folder, bound into every task; Docker fills it from the image the
            # first time it is mounted empty, as it does a named volume
            bind = {"type": "none", "o": "bind", "device": opts.library}
            out[name] = {"driver": "local", "driver_opts": bind}
    return out


def _file_ref(kind: str, ref: str | dict) -> dict:
    """A service's config or secret in long syntax. Swarm, unlike compose, applies a secret's
    owner and mode: the server's user (docker/server.Dockerfile) must read the TLS key."""
    out = dict(ref) if isinstance(ref, dict) else {"source": ref}
    if kind == "secrets":
        out = {"uid": SERVER_UID, "gid": SERVER_UID, "mode": 0o400} | out
    return out


def _files(
    compose: dict, svcs: dict[str, dict], opts: Options, kind: str, generated: dict[str, bytes]
) -> tuple[dict, dict]:
    """Configs or secrets named `<stack>-<name>-<hash>`: changed content is a new one (Swarm
    refuses to change one in place); their files go beside the stack file, as `<kind>-<name>`.
    A config named in `generated` has that content; any other is read from compose's `file`."""
    declared = compose.get(kind) or {}
    used = {ref["source"]: svc for svc, s in svcs.items() for ref in s.get(kind, [])}
    out: dict[str, dict] = {}
    files: dict[str, bytes] = {}
    for name, svc in sorted(used.items()):
        content = generated.get(name) if kind == "configs" else None
        if content is None:
            content = _read(name, svc, declared, opts, kind)
        digest = hashlib.sha256(content).hexdigest()[:10]
        files[f"{kind}-{name}"] = content
        out[name] = {"file": f"./{kind}-{name}", "name": f"{opts.stack}-{name}-{digest}"}
    return out, files


def _read(name: str, svc: str, declared: dict, opts: Options, kind: str) -> bytes:
    if "file" not in declared.get(name, {}):
        raise DeployError(f"services.{svc}: {kind} {name} is not defined with a file")
    path = opts.base / os.path.expandvars(_DEFAULT.sub(_default, declared[name]["file"]))
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DeployError(f"{kind}.{name}: cannot read {path}: {exc.strerror}") from None


def _default(match: re.Match) -> str:
    """compose's `${VAR:-default}`, from the deployer's environment (as compose reads it)."""
    return os.environ.get(match["var"]) or match["default"]


def dump(stack: dict) -> str:
    return yaml.safe_dump(stack, sort_keys=False, default_flow_style=False, width=100)
