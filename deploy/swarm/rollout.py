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
from ..rollout import ImageCourier
from . import nodes, services
from .config import Node, SwarmInventory
from .nodes import Say
from .stack import EDGE_LABEL, Image, Options, dump, load_compose, render


def deploy(fleet: Fleet, inv: SwarmInventory, images: dict[str, LocalImage], say: Say) -> None:
    """Deploy the stack with `images` (compose's image name -> the local image to run)."""
    manager = nodes.leader(fleet, inv)
    opts = _options(fleet, inv, images, say)
    stack, files = render(load_compose(inv.compose), opts)
    jobs = [
        (nodes.remote(fleet, node), images[ref])
        for node in inv.nodes.values()
        for ref in _images_for(stack, node, images)
    ]
    with tempfile.TemporaryDirectory(prefix="swarm-") as tmp:
        ImageCourier(Path(tmp), say, inv.settings.parallel_transfers).deliver(jobs)
    folder = f"{manager.home()}/.swarm/{inv.settings.stack}"
    manager.run(shlex.join(["mkdir", "-p", folder]))
    for name, content in files.items():
        manager.put_text(content.decode(), posixpath.join(folder, name))
    manager.put_text(dump(stack), posixpath.join(folder, "stack.yml"))
    before = services.snapshot(manager, inv.settings.stack)
    say(f"docker stack deploy {inv.settings.stack} on {manager}")
    manager.run(
        f"cd {shlex.quote(folder)} && "
        + shlex.join(
            [
                "docker",
                "stack",
                "deploy",
                "--prune",
                "--resolve-image",
                "never",
                "-c",
                "stack.yml",
                inv.settings.stack,
            ]
        )
    )
    services.wait(manager, inv.settings.stack, before, inv.settings.timeout, say)


def rollback(fleet: Fleet, inv: SwarmInventory, say: Say) -> None:
    """Every service that has a previous spec goes back to it (Swarm's own rollback)."""
    manager = nodes.leader(fleet, inv)
    before = services.snapshot(manager, inv.settings.stack)
    if not before:
        raise DeployError(f"no stack {inv.settings.stack} on {manager}")
    rolled = []
    for name in before:
        full = f"{inv.settings.stack}_{name}"
        result = manager.run(
            shlex.join(["docker", "service", "rollback", "--detach", full]), check=False
        )
        if result.ok:
            rolled.append(name)
        elif "does not have a previous spec" not in result.stderr:
            raise DeployError(f"{full}: rollback refused: {result.stderr.strip()[-200:]}")
    if not rolled:
        raise DeployError("no service has a previous version to roll back to")
    say(f"rolling back {', '.join(rolled)}")
    try:
        services.wait(manager, inv.settings.stack, {}, inv.settings.timeout, say)
    except DeployError as exc:
        if "rolled back by Swarm" not in str(exc):  # that is what we asked for
            raise


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
