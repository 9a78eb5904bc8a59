"""The stack's services as a manager sees them, and waiting until they have converged.

A service has converged when its update (if one ran) is over, as many tasks run as it wants,
and every one of them runs the service's current image and is healthy: with a health check,
Swarm says "Running" only once the check has passed ("Starting" before). A service that Swarm
rolled back has converged too -- on its old image -- and the deploy reports it as a failure.
"""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import DeployError
from ..remote import Remote
from .stack import VERSION_LABEL

Say = Callable[[str], None]
BUSY = ("updating", "rollback_started")
STUCK = ("paused", "rollback_paused")
NAMESPACE = "com.docker.stack.namespace"


@dataclass(frozen=True)
class Task:
    node: str
    image: str
    state: str  # Running, Starting, Preparing, ... (the first word of CurrentState)


@dataclass
class Service:
    name: str  # without the stack's prefix
    image: str
    version: str
    replicas: int
    mode: str  # vip or dnsrr
    update: str  # "" if the service never updated
    update_started: str
    message: str
    changed: bool  # the spec differs from the one before the last update (a rollback target)
    tasks: list[Task] = field(default_factory=list)

    @property
    def running(self) -> int:
        return sum(t.state == "Running" and t.image == self.image for t in self.tasks)

    @property
    def converged(self) -> bool:
        return self.update not in BUSY and self.running == self.replicas == len(self.tasks)

    def summary(self) -> str:
        text = f"{self.name} {self.running}/{self.replicas} {self.version}"
        return f"{text} ({self.update})" if self.update in BUSY + STUCK else text


def snapshot(manager: Remote, stack: str) -> dict[str, Service]:
    """Every service of `stack`, with its tasks that should be running."""
    label = shlex.quote(f"label={NAMESPACE}={stack}")
    out = manager.run(
        f'ids=$(docker service ls -q --filter {label}); [ -z "$ids" ] && exit 0; '
        "docker service inspect $ids; echo '#'; "
        f"docker stack ps --no-trunc --filter desired-state=running --format '{{{{json .}}}}' "
        f"{shlex.quote(stack)}"
    ).stdout
    specs, _, tasks = out.partition("\n#\n")
    services = {}
    for data in json.loads(specs or "[]"):
        svc = _service(data, stack)
        services[svc.name] = svc
    for line in tasks.splitlines():
        task = json.loads(line)
        name = task["Name"].removeprefix(f"{stack}_").rsplit(".", 1)[0]
        if name in services:
            services[name].tasks.append(
                Task(task["Node"], task["Image"], (task["CurrentState"].split() or ["?"])[0])
            )
    return services


def _service(data: dict, stack: str) -> Service:
    spec = data["Spec"]
    update = data.get("UpdateStatus") or {}
    return Service(
        name=spec["Name"].removeprefix(f"{stack}_"),
        image=spec["TaskTemplate"]["ContainerSpec"]["Image"].split("@")[0],
        version=(spec.get("Labels") or {}).get(VERSION_LABEL, "?"),
        replicas=((spec.get("Mode") or {}).get("Replicated") or {}).get("Replicas", 0),
        mode=(spec.get("EndpointSpec") or {}).get("Mode", "vip"),
        update=update.get("State", ""),
        update_started=update.get("StartedAt", ""),
        message=update.get("Message", ""),
        changed=data.get("PreviousSpec") is not None
        and _pruned(data["PreviousSpec"]) != _pruned(spec),
    )


def _pruned(value):
    """`value` without empty members: Swarm writes `"DNSConfig": {}` into a spec it updates
    where the previous one had no key, though nothing changed."""
    if isinstance(value, dict):
        kept = {k: _pruned(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v not in ({}, [], None, "")}
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    return value


def wait(
    manager: Remote,
    stack: str,
    before: dict[str, Service],
    timeout: float,
    say: Say,
    interval: float = 2.0,
) -> dict[str, Service]:
    """Until every service has converged; progress lines when something changes. A service
    whose new update (one that began after `before`) paused is a DeployError."""
    deadline = time.monotonic() + timeout
    shown = ""
    while True:
        now = snapshot(manager, stack)
        line = ", ".join(s.summary() for s in now.values())
        if line != shown:
            say(line)
            shown = line
        stuck = [s for s in now.values() if s.update in STUCK and _new(s, before)]
        if stuck:
            raise DeployError("; ".join(f"{s.name}: update {s.update}: {s.message}" for s in stuck))
        if now and all(s.converged for s in now.values()):
            break
        if time.monotonic() > deadline:
            late = [s.summary() for s in now.values() if not s.converged]
            raise DeployError(f"not converged after {timeout:.0f} s: {', '.join(late)}")
        time.sleep(interval)
    return now


def rolled_back(now: dict[str, Service], before: dict[str, Service]) -> list[Service]:
    """The services whose new update Swarm rolled back."""
    return [s for s in now.values() if s.update.startswith("rollback") and _new(s, before)]


def _new(svc: Service, before: dict[str, Service]) -> bool:
    """An update that began after `before` was taken (not one of an earlier deploy)."""
    old = before.get(svc.name)
    return old is None or svc.update_started != old.update_started


def nodes_of(svc: Service) -> str:
    """ "node1 x2, node2" : where the running tasks are."""
    counts: dict[str, int] = {}
    for t in svc.tasks:
        if t.state == "Running":
            counts[t.node] = counts.get(t.node, 0) + 1
    return ", ".join(f"{n} x{c}" if c > 1 else n for n, c in sorted(counts.items())) or "-"
