"""`fab deploy` and `fab rollback`."""

from __future__ import annotations

from invoke import Collection, task

from .. import images, rollout
from ..errors import DeployError
from ..images import LocalImage
from ..inventory import Build, Inventory
from .common import helps, load_inventory, open_fleet, reporting, say


@task(
    iterable=["image"],
    help=helps(
        "inventory",
        "hosts",
        "accept-new-host-keys",
        image="deploy this local image instead of building the inventory's: SERVICE=REF for "
        "one service, REF for every service not named (repeatable)",
        build="build the inventory's images first (default; --no-build uses them as they are)",
    ),
)
def deploy(c, inventory=None, image=None, hosts=None, build=True, accept_new_host_keys=False):
    """Build, send the images the hosts lack, then switch one host at a time."""
    with reporting("deploy"):
        inv = load_inventory(c, inventory)
        selected = inv.select(hosts)
        # every host must answer before anything is built or changed
        with open_fleet(c, inv, accept_new_host_keys) as fleet:
            targets = _service_images(inv, image or [], build)
            balancer_image = _image(inv.balancer.image, inv.balancer.build, inv, build)
            mon = inv.monitoring
            monitoring_image = mon and _image(mon.image, mon.build, inv, build)
            for name, img in targets.items():
                say(f"{name}: {img}")
            rollout.deploy(fleet, targets, balancer_image, selected, say, monitoring_image)


@task(help=helps("inventory", "hosts", "accept-new-host-keys"))
def rollback(c, inventory=None, hosts=None, accept_new_host_keys=False):
    """Put every host (or --hosts) back on its previous version, one host at a time."""
    with reporting("rollback"):
        inv = load_inventory(c, inventory)
        selected = inv.select(hosts)
        with open_fleet(c, inv, accept_new_host_keys) as fleet:
            rollout.rollback(fleet, [h for h in selected if inv.services_on(h)], say)


def _service_images(inv: Inventory, overrides: list[str], build: bool) -> dict[str, LocalImage]:
    """SERVICE=REF for one service; a bare REF for every service not named (one server image
    runs every service: HTTP, FTP, echo)."""
    chosen: dict[str, str] = {}
    every: str | None = None
    for item in overrides:
        name, sep, ref = item.partition("=")
        if not sep:
            every = item
            continue
        if name not in inv.services:
            raise DeployError(f"--image {item}: no service {name!r} in {inv.path}")
        chosen[name] = ref
    return {
        name: images.resolve(chosen.get(name) or every)
        if name in chosen or every
        else _image(svc.image, svc.build, inv, build)
        for name, svc in inv.services.items()
    }


def _image(ref: str, spec: Build | None, inv: Inventory, build: bool) -> LocalImage:
    if build and spec is not None:
        say(f"building {ref}")
        images.build(ref, spec, inv.root)
    return images.resolve(ref)


ns = Collection(deploy, rollback)
