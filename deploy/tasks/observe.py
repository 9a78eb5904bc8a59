"""`fab status` and `fab logs`: what runs where, and what it said."""

from __future__ import annotations

from invoke import Collection, task

from .. import balancer as lb
from ..errors import DeployError
from ..fleet import Fleet, tag
from ..images import LocalImage
from ..rollout import remote_image
from .common import helps, load_inventory, open_fleet, reporting, say, table


@task(help=helps("inventory", "accept-new-host-keys"))
def status(c, inventory=None, accept_new_host_keys=False):
    """Versions, ports, health and balancer rotation per host; exit 1 if something is off.

    Per host and service: the live version, its port (slot) and health, whether the balancer
    sends it traffic, and the previous version kept for rollback."""
    with reporting("status"):
        inv = load_inventory(c, inventory)
        with open_fleet(c, inv, accept_new_host_keys, strict=False) as fleet:
            rows, problems = _status_rows(fleet)
        print(table(rows), flush=True)
        if problems:
            raise DeployError("; ".join(problems))


def _status_rows(fleet: Fleet) -> tuple[list[list[str]], list[str]]:
    inv = fleet.inv
    rows = [["HOST", "SERVICE", "VERSION", "IMAGE", "PORT", "HEALTH", "IN LB", "PREVIOUS"]]
    problems: list[str] = []
    in_lb, lb_rows = _balancer_rows(fleet, problems)
    for host in inv.hosts.values():
        if host.name in fleet.down:
            rows.append([host.name, "-", "DOWN", "-", "-", "-", "-", "-"])
            problems.append(fleet.down[host.name])
            continue
        state = fleet.state(host)
        for service in inv.services_on(host):
            live = state.live.get(service.name)
            prev = remote_image(state.remote, tag(inv, service, "previous"))
            if live is None:
                rows.append([host.name, service.name, "(none)", "-", "-", "-", "-", _v(prev)])
                problems.append(f"{host}: {service.name} is not running")
                continue
            served = (host.address, live.port) in in_lb.get(service.name, set())
            rows.append([
                host.name, service.name, live.version, live.image_id[7:19], str(live.port),
                live.health or "-", "yes" if served else "NO", _v(prev),
            ])  # fmt: skip
            if not live.serving:
                problems.append(f"{host}: {service.name} is {live.health}")
            if not served:
                problems.append(f"{host}: the balancer sends {service.name} no traffic")
    return rows + lb_rows, problems


def _balancer_rows(fleet: Fleet, problems: list[str]):
    in_lb: dict[str, set] = {}
    rows = []
    services = fleet.inv.services.values()
    listens = ",".join(
        [f"{s.listen}/udp" if s.protocol == "udp" else str(s.listen) for s in services]
        + [f"{s.tls_listen}/tls" for s in services if s.tls_listen is not None]
    )
    for bal in fleet.balancers():
        data = bal.remote.inspect(bal.container)
        config = bal.config() or ""
        if not data or not data["State"].get("Running"):
            rows.append([str(bal), "balancer", "(none)", "-", listens, "-", "-", "-"])
            problems.append(f"{bal}: the balancer is not running")
            continue
        health = (data["State"].get("Health") or {}).get("Status", "-")
        rows.append([str(bal), "balancer", "nginx", data["Image"][7:19], listens, health, "-", "-"])
        for service in fleet.inv.services:
            in_lb.setdefault(service, set()).update(lb.members(config))
        if health == "unhealthy":
            problems.append(f"{bal}: the balancer is unhealthy")
    return in_lb, rows


def _v(image: LocalImage | None) -> str:
    return image.version if image else "-"


@task(
    help=helps(
        "inventory",
        "hosts",
        "accept-new-host-keys",
        service="only this service's containers",
        lines="how many lines from the end of each log (default 50)",
        balancer="the balancers' logs (nginx) instead of the services'",
    )
)
def logs(c, inventory=None, hosts=None, service=None, lines=50, balancer=False,
         accept_new_host_keys=False):  # fmt: skip
    """The last lines of each live container's log, host by host."""
    with reporting("logs"):
        inv = load_inventory(c, inventory)
        selected = {h.name for h in inv.select(hosts)}
        with open_fleet(c, inv, accept_new_host_keys, strict=False) as fleet:
            for name, reason in fleet.down.items():
                say(f"== {name}: {reason}")
            if balancer:
                for bal in fleet.balancers():
                    if str(bal) in selected:
                        _show(str(bal), bal.container, bal.remote.logs(bal.container, lines))
                return
            for host in inv.app_hosts:
                if host.name not in selected or host.name in fleet.down:
                    continue
                state = fleet.state(host)
                for name, live in state.live.items():
                    if service in (None, name):
                        _show(host.name, live.name, state.remote.logs(live.name, int(lines)))


def _show(host: str, container: str, text: str) -> None:
    print(f"== {host}: {container}")
    print(text.rstrip() or "(empty)", flush=True)


ns = Collection(status, logs)
