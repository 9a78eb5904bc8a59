"""`fab check`: can the deploy reach every host, and does each have what it needs?"""

from __future__ import annotations

from invoke import Collection, task

from ..errors import DeployError
from ..remote import Remote
from .common import helps, load_inventory, open_fleet, reporting, table


@task(help=helps("inventory", "accept-new-host-keys"))
def check(c, inventory=None, accept_new_host_keys=False):
    """SSH with a known host key, a Docker engine that answers, free disk space for images."""
    with reporting("check"):
        inv = load_inventory(c, inventory)
        rows = [["HOST", "ROLES", "SSH", "DOCKER", "FREE MB", "VERDICT"]]
        problems = []
        with open_fleet(c, inv, accept_new_host_keys, strict=False) as fleet:
            for host in inv.hosts.values():
                roles = ",".join(host.roles)
                if host.name in fleet.down:
                    rows.append([host.name, roles, "FAIL", "-", "-", "unreachable"])
                    problems.append(fleet.down[host.name])
                    continue
                state = fleet.state(host)
                free = _free_mb(state.remote)
                verdict = "ok"
                if free is None or free < inv.settings.min_free_mb:
                    verdict = f"low disk (< {inv.settings.min_free_mb} MB)"
                    problems.append(f"{host}: {free} MB free for Docker, want {verdict[10:-1]}")
                rows.append([host.name, roles, "ok", state.docker_version, str(free), verdict])
        print(table(rows), flush=True)
        if problems:
            raise DeployError("; ".join(problems))


def _free_mb(remote: Remote) -> int | None:
    """Free space where the engine keeps its images (df on Docker's root directory)."""
    out = remote.run(
        "d=$(docker info --format '{{.DockerRootDir}}' 2>/dev/null); "
        'df -Pk "${d:-/var/lib/docker}" 2>/dev/null || df -Pk /',
        check=False,
    ).stdout.splitlines()
    try:
        return int(out[-1].split()[3]) // 1024
    except (IndexError, ValueError):
        return None


ns = Collection(check)
