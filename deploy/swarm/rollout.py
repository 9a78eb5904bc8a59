"""`fab swarm.deploy` and `fab swarm.rollback`: images to the nodes that lack them, the stack to
a manager, then wait until Swarm has converged.

There is no registry: each image is saved once here and sent over SSH to every node that may
run it and lacks it, only the layers it lacks (deploy/transfer.py). The stack names images by
ID, so no node ever asks a registry, and a no-op deploy is a stack whose services did not
change: Swarm leaves them alone.
"""

from __future__ import annotations

import posixpath
import shlex
import tempfile
from pathlib import Path

from ..errors import DeployError
from ..fleet import Fleet
from ..images import LocalImage
from ..remote import Remote
from ..rollout import ImageCourier
from . import nodes, services
from .config import Node, SwarmInventory
from .nodes import Say
from .stack import EDGE_LABEL, Image, Options, dump, load_compose, render


def deploy(fleet: Fleet, inv: SwarmInventory, images: dict[str, LocalImage], say: Say) -> None:
    """Deploy the stack with `images` (compose's image name -> the local image to run)."""
    manager = nodes.leader(fleet, inv)
    stack, files = render(load_compose(inv.compose), _options(fleet, inv, images, say))
    jobs = [
        (nodes.remote(fleet, node), images[ref])
        for node in inv.nodes.values()
        for ref in _images_for(stack, node, images)
    ]
    with tempfile.TemporaryDirectory(prefix="swarm-") as tmp:
        ImageCourier(Path(tmp), say, inv.settings.parallel_transfers).deliver(jobs)
    before = services.snapshot(manager, inv.settings.stack)
    _stack_deploy(manager, inv.settings.stack, stack, files, say)
    now = services.wait(manager, inv.settings.stack, before, inv.settings.timeout, say)
    back = services.rolled_back(now, before)
    if back:
        raise DeployError(
            "rolled back by Swarm, the old version serves: "
            + "; ".join(f"{s.name} ({s.message})" for s in back)
        )


def _stack_deploy(manager: Remote, name: str, stack: dict, files: dict[str, bytes], say: Say):
    """The stack file and its configs' and secrets' files in ~/.swarm/NAME (0700) on the
    manager, then deploy. Swarm keeps the secrets (encrypted): their files are removed."""
    folder = f"{manager.home()}/.swarm/{name}"
    manager.run(shlex.join(["mkdir", "-p", "-m", "0700", folder]))
    manager.run(shlex.join(["chmod", "0700", folder]))
    for file, content in files.items():
        manager.put_text(content.decode(), posixpath.join(folder, file))
    manager.put_text(dump(stack), posixpath.join(folder, "stack.yml"))
    say(f"docker stack deploy {name} on {manager}")
    command = ["docker", "stack", "deploy", "--prune", "--resolve-image", "never"]
    try:
        manager.run(
            f"cd {shlex.quote(folder)} && " + shlex.join([*command, "-c", "stack.yml", name])
        )
    finally:
        secrets = [posixpath.join(folder, f) for f in files if f.startswith("secrets-")]
        if secrets:
            manager.run(shlex.join(["rm", "-f", *secrets]), check=False)


def rollback(fleet: Fleet, inv: SwarmInventory, say: Say) -> None:
    """Every service back to the spec it had before the last deploy (Swarm's rollback). One
    that Swarm already rolled back is left alone: its previous spec is the failed version."""
    manager = nodes.leader(fleet, inv)
    before = services.snapshot(manager, inv.settings.stack)
    if not before:
        raise DeployError(f"no stack {inv.settings.stack} on {manager}")
    rolled = []
    for name, svc in before.items():
        if svc.update.startswith("rollback"):
            say(f"{name}: already rolled back by Swarm ({svc.version}), left alone")
        elif svc.changed:
            manager.docker("service", "rollback", "--detach", f"{inv.settings.stack}_{name}")
            rolled.append(name)
    if not rolled:
        raise DeployError("no service has a previous version to roll back to")
    say(f"rolling back {', '.join(rolled)}")
    services.wait(manager, inv.settings.stack, before, inv.settings.timeout, say)


def _options(fleet: Fleet, inv: SwarmInventory, images: dict[str, LocalImage], say: Say):
    s = inv.settings
    return Options(
        stack=s.stack,
        base=inv.compose.parent,
        images={ref: Image(ref, img.id, img.version) for ref, img in images.items()},
        endpoint_mode=nodes.endpoint_mode(fleet, inv, say),
        replicas=s.replicas,
        public_address=s.public_address,
        library=s.library,
        healthcheck=s.healthcheck,
        monitor=s.monitor,
        monitoring=inv.monitoring,
    )


def _images_for(stack: dict, node: Node, images: dict[str, LocalImage]) -> list[str]:
    """The images of the services `node` may run (an edge-only service needs the edge label)."""
    by_id = {img.id: ref for ref, img in images.items()}
    wanted = []
    for svc in stack["services"].values():
        constraints = svc["deploy"].get("placement", {}).get("constraints", [])
        edge_only = f"node.labels.{EDGE_LABEL} == true" in constraints
        if edge_only and node.labels.get(EDGE_LABEL) != "true":
            continue
        ref = by_id[svc["image"]]
        if ref not in wanted:
            wanted.append(ref)
    return wanted
