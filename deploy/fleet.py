"""Every host of the inventory, connected and read before anything changes.

`Fleet.connect` opens all SSH connections (in parallel) and checks that each host's Docker
engine answers. A deploy refuses to start unless every host does: a host that is down stops
the deploy before any host was touched.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from fabric import Config

from . import balancer as lb
from . import ssh
from .balancer import BalancerHost
from .errors import DeployError
from .inventory import Host, Inventory, Service
from .remote import LABEL_SERVICE, Container, Remote
from .stream import Forwards, Upstreams

log = logging.getLogger(__name__)


def tag(inv: Inventory, service: Service | str, which: str) -> str:
    """The tag that marks a service's current or previous image on a host."""
    name = service if isinstance(service, str) else service.name
    return f"{inv.settings.project}-deploy/{name}:{which}"


@dataclass
class HostState:
    remote: Remote
    docker_version: str = ""
    live: dict[str, Container] = field(default_factory=dict)  # service -> running container
    stale: dict[str, list[Container]] = field(default_factory=dict)  # stopped ones

    def read(self, inv: Inventory, in_rotation: set[tuple[str, int]] | None = None) -> None:
        """Sort the project's containers into live (one running per service) and stale.

        Two running containers of one service mean an earlier run was interrupted between
        starting a new version and stopping the old: the live one is the one the balancer
        sends traffic to (`in_rotation`), else the newest."""
        self.live.clear()
        self.stale.clear()
        running: dict[str, list[Container]] = {}
        for c in self.remote.containers(inv.settings.project):  # newest first
            service = c.labels.get(LABEL_SERVICE)
            if service:
                (running if c.running else self.stale).setdefault(service, []).append(c)
        address = self.remote.host.address
        for service, found in running.items():
            found.sort(key=lambda c: (address, c.port) not in (in_rotation or set()))
            self.live[service] = found[0]
            self.stale.setdefault(service, []).extend(found[1:])

    def ambiguous(self) -> bool:
        return any(c.running for cs in self.stale.values() for c in cs)


class Fleet:
    def __init__(self, inv: Inventory):
        self.inv = inv
        self.hosts: dict[str, HostState] = {}
        self.down: dict[str, str] = {}  # host -> why it could not be reached

    @classmethod
    def connect(
        cls,
        inv: Inventory,
        *,
        accept_new: bool = False,
        config: Config | None = None,
        strict: bool = True,
    ) -> Fleet:
        """Connect to every host; with `strict`, one that fails is a DeployError (after closing
        the others), otherwise it is listed in `down`."""
        fleet = cls(inv)
        hosts = list(inv.hosts.values())
        with ThreadPoolExecutor(max_workers=min(8, len(hosts))) as pool:
            results = list(pool.map(lambda h: fleet._open(h, accept_new, config), hosts))
        for host, result in zip(hosts, results, strict=True):
            if isinstance(result, HostState):
                fleet.hosts[host.name] = result
            else:
                fleet.down[host.name] = result
        if strict and fleet.down:
            fleet.close()
            reasons = "; ".join(fleet.down.values())
            raise DeployError(f"{reasons} -- nothing was changed on any host")
        if any(state.ambiguous() for state in fleet.hosts.values()):
            rotation = fleet.rotation()
            for state in fleet.hosts.values():
                if state.ambiguous():
                    state.read(inv, rotation)
        return fleet

    def _open(self, host: Host, accept_new: bool, config: Config | None) -> HostState | str:
        try:
            remote = Remote(host, ssh.connect(host, accept_new=accept_new, config=config))
        except DeployError as exc:
            return str(exc)
        state = HostState(remote)
        try:
            version = remote.run("docker version --format '{{.Server.Version}}'", check=False)
            if not version.ok:
                reason = (version.stderr.strip().splitlines() or ["docker not found"])[-1]
                remote.close()
                return f"{host}: Docker does not answer: {reason}"
            state.docker_version = version.stdout.strip()
            if self.inv.services_on(host):
                state.read(self.inv)
        except DeployError as exc:
            remote.close()
            return str(exc)
        return state

    def close(self) -> None:
        for state in self.hosts.values():
            state.remote.close()

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- views ----------------------------------------------------------------------------

    def state(self, host: Host) -> HostState:
        return self.hosts[host.name]

    def balancers(self) -> list[BalancerHost]:
        return [
            BalancerHost(self.hosts[h.name].remote, self.inv)
            for h in self.inv.balancer_hosts
            if h.name in self.hosts
        ]

    def rotation(self) -> set[tuple[str, int]]:
        """The (address, port) pairs the balancers' current configuration sends traffic to."""
        members: set[tuple[str, int]] = set()
        for bal in self.balancers():
            members |= lb.members(bal.config() or "")
        return members

    def upstreams(self) -> Upstreams:
        """Per service, the hosts whose live container is healthy, on its port."""
        out: Upstreams = {name: [] for name in self.inv.services}
        for host in self.inv.hosts.values():
            state = self.hosts.get(host.name)
            if state is None:
                continue
            for service in self.inv.services_on(host):
                c = state.live.get(service.name)
                if c and c.port and c.serving:
                    out[service.name].append((host.address, c.port))
        return out

    def forwards(self) -> Forwards:
        """Per FTP service, the passive ports of every running container, the live ones and
        those still draining: a session that began on the old version may still open a data
        connection after the switch, until that version is stopped."""
        out: Forwards = {}
        for host in self.inv.hosts.values():
            state = self.hosts.get(host.name)
            if state is None:
                continue
            for service in self.inv.services_on(host):
                draining = state.stale.get(service.name, [])
                for c in [state.live.get(service.name), *draining]:
                    if c and c.running and c.passive:
                        out.setdefault(service.name, []).append((host.address, *c.passive))
        return out
