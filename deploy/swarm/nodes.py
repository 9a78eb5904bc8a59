"""The nodes: a swarm made of the inventory's hosts (`fab swarm.init`), taken apart again
(`fab swarm.leave`), and what their kernels can do (IP_VS decides the endpoint mode).

Every step looks before it acts, so `init` run twice changes nothing the second time: a node
already in this swarm is left as it is, one in another swarm is an error naming it.
"""

from __future__ import annotations

import json
import logging
import shlex
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import DeployError
from ..fleet import Fleet
from ..remote import Remote
from .config import Node, SwarmInventory

log = logging.getLogger(__name__)

Say = Callable[[str], None]
SWARM_PORT = 2377
TASK_HISTORY = 1  # stopped tasks kept per slot: on vfs, each one keeps a copy of its image


@dataclass(frozen=True)
class NodeState:
    state: str  # inactive, pending, active, error, locked
    node_id: str
    cluster_id: str
    manager: bool  # can run manager commands (ControlAvailable)


def node_state(remote: Remote) -> NodeState:
    info = json.loads(remote.run("docker info --format '{{json .Swarm}}'").stdout or "{}")
    return NodeState(
        state=info.get("LocalNodeState", ""),
        node_id=info.get("NodeID", ""),
        cluster_id=(info.get("Cluster") or {}).get("ID", ""),
        manager=bool(info.get("ControlAvailable")),
    )


def has_ip_vs(remote: Remote) -> bool:
    """The kernel can balance a VIP: the ip_vs module is loaded, or can be."""
    probe = "test -e /proc/net/ip_vs || grep -qw '^ip_vs' /proc/modules || modprobe -nq ip_vs"
    return remote.run(f"{{ {probe}; }} 2>/dev/null", check=False).ok


def endpoint_mode(fleet: Fleet, inv: SwarmInventory, say: Say) -> str:
    """The inventory's mode, or for `auto`, vip only if every node has IP_VS."""
    wanted = inv.settings.endpoint_mode
    if wanted != "auto":
        return wanted
    lacking = [str(n) for n in inv.nodes.values() if not has_ip_vs(remote(fleet, n))]
    if lacking:
        say(f"no IP_VS on {', '.join(lacking)}: services use DNS round robin (dnsrr)")
        return "dnsrr"
    say("IP_VS on every node: services use a virtual IP (vip)")
    return "vip"


def remote(fleet: Fleet, node: Node) -> Remote:
    return fleet.state(node.host).remote


def leader(fleet: Fleet, inv: SwarmInventory) -> Remote:
    """A manager that answers manager commands."""
    for node in inv.managers:
        if node.host.name not in fleet.hosts:
            continue
        r = remote(fleet, node)
        if node_state(r).manager:
            return r
    raise DeployError("no manager of the inventory is in a swarm: run `fab swarm.init` first")


def listing(manager: Remote) -> list[list[str]]:
    """The swarm's nodes as the manager sees them: a table with a header row."""
    fmt = "{{.Hostname}}\t{{.Status}}\t{{.Availability}}\t{{.ManagerStatus}}"
    out = manager.run(shlex.join(["docker", "node", "ls", "--format", fmt])).stdout
    rows = [["NODE", "STATUS", "AVAILABILITY", "MANAGER"]]
    return rows + [[*line.split("\t"), "", "", ""][:4] for line in out.splitlines()]


def init(fleet: Fleet, inv: SwarmInventory, say: Say) -> None:
    """The first manager starts the swarm (if none runs), every other node joins it."""
    first = inv.managers[0]
    head = remote(fleet, first)
    state = node_state(head)
    if state.state == "inactive":
        address = first.host.address
        head.docker(
            "swarm", "init", "--advertise-addr", address, "--task-history-limit", str(TASK_HISTORY)
        )
        say(f"{first}: started a swarm, advertised on {address}")
        state = node_state(head)
    elif not state.manager:
        raise DeployError(f"{first}: in a swarm but not a manager ({state.state})")
    head.docker("swarm", "update", "--task-history-limit", str(TASK_HISTORY))
    tokens = {
        role: head.docker("swarm", "join-token", "-q", role).strip()
        for role in ("manager", "worker")
    }
    join_at = f"{first.host.address}:{SWARM_PORT}"
    for node in inv.nodes.values():
        if node is not first:
            _join(remote(fleet, node), node, state.cluster_id, tokens[node.role], join_at, say)
    label(fleet, inv, head, say)


def _join(r: Remote, node: Node, cluster: str, token: str, join_at: str, say: Say) -> None:
    state = node_state(r)
    if state.state == "active":
        if state.cluster_id and cluster and state.cluster_id != cluster:
            raise DeployError(f"{node}: already in another swarm ({state.cluster_id[:12]})")
        say(f"{node}: already in the swarm")
        return
    if state.state != "inactive":
        raise DeployError(f"{node}: swarm state {state.state}; `docker swarm leave -f` there")
    r.docker("swarm", "join", "--token", token, "--advertise-addr", node.host.address, join_at)
    say(f"{node}: joined as {node.role}")


def label(fleet: Fleet, inv: SwarmInventory, head: Remote, say: Say) -> None:
    """The inventory's labels on each node (by node ID: hostnames may repeat)."""
    for node in inv.nodes.values():
        node_id = node_state(remote(fleet, node)).node_id
        args = [arg for k, v in sorted(node.labels.items()) for arg in ("--label-add", f"{k}={v}")]
        if args:
            head.docker("node", "update", *args, node_id)
            say(f"{node}: labels {', '.join(f'{k}={v}' for k, v in sorted(node.labels.items()))}")


def leave(fleet: Fleet, inv: SwarmInventory, say: Say) -> None:
    """Remove the stack, then workers leave, then managers (the last one ends the swarm)."""
    try:
        head = leader(fleet, inv)
    except DeployError:
        head = None
    if head is not None:
        head.run(shlex.join(["docker", "stack", "rm", inv.settings.stack]), check=False)
        say(f"removed the stack {inv.settings.stack}")
    reachable = [n for n in inv.nodes.values() if n.host.name in fleet.hosts]
    ordered = sorted(reachable, key=lambda n: n.role == "manager")
    for node in ordered:
        r = remote(fleet, node)
        if node_state(r).state == "inactive":
            say(f"{node}: not in a swarm")
            continue
        r.docker("swarm", "leave", "--force")
        say(f"{node}: left the swarm")
