"""`fab teardown`: take the project off every host (containers, tags, images, the balancer)."""

from __future__ import annotations

import shlex

from invoke import Collection, task

from .. import ftp_tls
from ..errors import DeployError
from ..fleet import tag
from ..remote import LABEL_PROJECT
from .common import helps, load_inventory, open_fleet, reporting, say


@task(
    help=helps(
        "inventory",
        "accept-new-host-keys",
        yes="really remove everything (without it, teardown only says what it would do)",
        keep_images="remove the containers but keep the images (no transfer next time)",
    )
)
def teardown(c, inventory=None, yes=False, keep_images=False, accept_new_host_keys=False):
    """Remove the project from every host: containers, balancer, images.

    The images stay with --keep-images; without --yes nothing is removed."""
    with reporting("teardown"):
        inv = load_inventory(c, inventory)
        if not yes:
            names = ", ".join(inv.hosts)
            raise DeployError(f"this stops {inv.settings.project} on {names}; add --yes to go on")
        project = inv.settings.project
        with open_fleet(c, inv, accept_new_host_keys, strict=False) as fleet:
            for state in fleet.hosts.values():
                remote = state.remote
                ids = remote.docker("ps", "-aq", "--filter", f"label={LABEL_PROJECT}={project}")
                if ids.split():
                    remote.run(
                        f"docker stop -t {inv.settings.stop_timeout} {' '.join(ids.split())} "
                        f">/dev/null; docker rm -f {' '.join(ids.split())} >/dev/null",
                        check=False,
                        timeout=inv.settings.stop_timeout + 60,
                    )
                if not keep_images:
                    refs = [tag(inv, s, w) for s in inv.services for w in ("current", "previous")]
                    _remove_images(remote, refs)
                remote.run(f"rm -rf {shlex.quote(remote.home())}/{project}-deploy", check=False)
                if inv.monitoring:  # Prometheus' time series ([monitoring])
                    remote.docker("volume", "rm", "-f", f"{project}-prometheus", check=False)
                if inv.balancer.tls:  # the FTP replicas' certificate (deploy/ftp_tls.py)
                    remote.docker("volume", "rm", "-f", ftp_tls.volume(inv), check=False)
                say(f"{remote}: removed {len(ids.split())} container(s)")
            if fleet.down:
                raise DeployError("; ".join(fleet.down.values()) + " -- not torn down")


def _remove_images(remote, refs: list[str]) -> None:
    ids = {remote.image_id(ref) for ref in refs} - {None}
    if ids:
        remote.docker("image", "rm", "-f", *sorted(ids), check=False)


ns = Collection(teardown)
