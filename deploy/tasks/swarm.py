"""`fab swarm.init`, `swarm.deploy`, `swarm.status`, `swarm.rollback`, `swarm.leave`: the
compose stack on Docker Swarm, images sent over SSH (docs/swarm.md)."""

from __future__ import annotations

import os

from invoke import Collection, task

from .. import images
from ..errors import DeployError
from ..images import LocalImage
from ..inventory import Build
from ..swarm import config, nodes, rollout, services, stack
from ..swarm.config import SwarmInventory
from .common import helps, open_fleet, reporting, say, table

ENV_SWARM_INVENTORY = "SWARM_INVENTORY"
HELP = {
    "inventory": f"swarm inventory TOML file (default: ${ENV_SWARM_INVENTORY}, then "
    "swarm.inventory from the invoke/fabric config: deploy/swarm/inventory.toml)",
}


def _load(c, option: str | None) -> SwarmInventory:
    path = option or os.environ.get(ENV_SWARM_INVENTORY) or c.config.swarm.inventory
    return config.load(path)


def _helps(**more: str) -> dict[str, str]:
    return HELP | helps("accept-new-host-keys", **more)


@task(help=_helps())
def init(c, inventory=None, accept_new_host_keys=False):
    """Make the inventory's hosts a swarm: managers and workers by role, node labels."""
    with reporting("swarm.init"):
        inv = _load(c, inventory)
        with open_fleet(c, inv, accept_new_host_keys) as fleet:
            nodes.init(fleet, inv, say)


@task(
    iterable=["image"],
    help=_helps(
        image="run this local image for one of compose's images: NAME=REF, NAME being "
        "compose's image (server-cluster/server:latest) or its short name (server); repeatable",
        build="build compose's images first (default; --no-build uses them as they are)",
    ),
)
def deploy(c, inventory=None, image=None, build=True, accept_new_host_keys=False):
    """Send each node the images it lacks, `docker stack deploy`, wait until converged."""
    with reporting("swarm.deploy"):
        inv = _load(c, inventory)
        with open_fleet(c, inv, accept_new_host_keys) as fleet:
            chosen = _images(inv, image or [], build)
            for ref, img in chosen.items():
                say(f"{ref}: {img}")
            rollout.deploy(fleet, inv, chosen, say)


@task(help=_helps())
def status(c, inventory=None, accept_new_host_keys=False):
    """Nodes (status, availability), then per service: replicas running/wanted, version,
    endpoint mode, nodes, update state. Exit 1 unless every service has converged."""
    with reporting("swarm.status"):
        inv = _load(c, inventory)
        with open_fleet(c, inv, accept_new_host_keys, strict=False) as fleet:
            for name, why in fleet.down.items():
                say(f"{name}: unreachable over SSH ({why})")
            manager = nodes.leader(fleet, inv)
            print(table(nodes.listing(manager)), flush=True)
            found = services.snapshot(manager, inv.settings.stack)
        rows = [["SERVICE", "REPLICAS", "VERSION", "MODE", "NODES", "UPDATE"]]
        rows += [
            [
                s.name,
                f"{s.running}/{s.replicas}",
                s.version,
                s.mode,
                services.nodes_of(s),
                s.update or "-",
            ]
            for s in found.values()
        ]
        print(table(rows), flush=True)
        off = [s.name for s in found.values() if not s.converged]
        if not found:
            raise DeployError(f"no stack {inv.settings.stack}")
        if off:
            raise DeployError(f"not converged: {', '.join(off)}")


@task(help=_helps())
def rollback(c, inventory=None, accept_new_host_keys=False):
    """Every service back to its previous version (Swarm's rollback), then wait."""
    with reporting("swarm.rollback"):
        inv = _load(c, inventory)
        with open_fleet(c, inv, accept_new_host_keys) as fleet:
            rollout.rollback(fleet, inv, say)


@task(help=_helps())
def leave(c, inventory=None, accept_new_host_keys=False):
    """Remove the stack; every node that answers leaves the swarm (workers first)."""
    with reporting("swarm.leave"):
        inv = _load(c, inventory)
        with open_fleet(c, inv, accept_new_host_keys, strict=False) as fleet:
            for name, why in fleet.down.items():
                say(f"{name}: unreachable, left as it is ({why})")
            nodes.leave(fleet, inv, say)


def _images(inv: SwarmInventory, overrides: list[str], build: bool) -> dict[str, LocalImage]:
    """compose's image name -> the local image: an --image override, else compose's image
    (built first from its `build` section)."""
    chosen: dict[str, str] = {}
    specs: dict[str, Build | None] = {}
    compose = stack.load_compose(inv.compose)
    for svc in stack.services(compose, monitored=inv.monitoring is not None).values():
        b = svc.get("build")
        spec = Build(context=b.get("context", "."), dockerfile=b.get("dockerfile")) if b else None
        specs[svc["image"]] = specs.get(svc["image"]) or spec
    short = {ref.rsplit("/", 1)[-1].split(":")[0]: ref for ref in specs}
    for item in overrides:
        name, sep, ref = item.partition("=")
        target = name if name in specs else short.get(name)
        if not sep or target is None:
            raise DeployError(f"--image {item}: NAME=REF with NAME one of {', '.join(short)}")
        chosen[target] = ref
    out = {}
    for ref, spec in specs.items():
        if ref not in chosen and build and spec is not None:
            say(f"building {ref}")
            images.build(ref, spec, inv.compose.parent)
        out[ref] = images.resolve(chosen.get(ref, ref))
    return out


ns = Collection("swarm", init, deploy, status, rollback, leave)
ns.configure({"swarm": {"inventory": "deploy/swarm/inventory.toml"}})
