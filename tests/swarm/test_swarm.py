"""Docker Swarm on three Docker-in-Docker nodes, driven by `fab swarm.*` as a user would: from
nothing to a converged stack, replicas spread over nodes, FTP to HTTP through nginx, a new
version rolled under load without a failed request, a never-healthy version rolled back by
Swarm, a worker drained and one killed; with [monitoring], Prometheus on the edge node scrapes
every replica and the status page lists them, seen through an SSH tunnel to node1's loopback.
The tests run in this order and share one swarm."""

from __future__ import annotations

import collections
import ftplib
import io
import json
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from deploy_load import Load, get, http_attempt
from status_page import page_health

TIMINGS: dict[str, float] = {}
pytest.swarm_timings = TIMINGS
FTP_USER = FTP_PASSWORD = "library"  # docker/ftp-users' demo user, who may write
#: service -> tasks, as the test inventory's replicas ask; the Prometheus job is the protocol
REPLICAS = {
    "http-fork": 2, "http-prefork": 1, "http-thread": 2, "http-threadpool": 1,
    "ftp-fork": 1, "ftp-thread": 1, "echo-tcp": 1, "echo-udp": 1,
}  # fmt: skip


def served(swarm, requests: int = 40, path: str = "/-/health") -> collections.Counter:
    """(node, version) -> answers, from X-Served-By (service/node/version)."""
    seen: collections.Counter = collections.Counter()
    for _ in range(requests):
        status, who = get(swarm.http_port, path)
        assert status == 200, f"{status} from {who}"
        _, node, version = who.split("/")
        seen[node, version] += 1
    return seen


def converged(swarm, timeout: float = 240) -> float:
    """Seconds until `fab swarm.status` says every service has converged."""
    started = time.monotonic()
    while True:
        result = swarm.fab("swarm.status")
        if result.returncode == 0:
            return time.monotonic() - started
        assert time.monotonic() - started < timeout, result.output
        time.sleep(3)


def test_init_and_first_deploy_converge(swarm):
    init = swarm.fab("swarm.init")
    assert init.returncode == 0, init.output
    first = swarm.deploy("v1")
    assert first.returncode == 0, first.output
    TIMINGS["cold swarm.init"] = init.seconds
    TIMINGS["first swarm.deploy (3 nodes, cold)"] = first.seconds
    assert "services use DNS round robin (dnsrr)" in first.output  # this kernel has no IP_VS
    status = swarm.fab("swarm.status")
    assert status.returncode == 0, status.output
    assert status.output.count(" dnsrr ") == 11  # 9 services, Prometheus and its nginx exporter


def test_http_answered_by_replicas_on_several_nodes(swarm):
    seen = served(swarm)
    assert {version for _, version in seen} == {"v1"}
    assert len({node for node, _ in seen}) >= 2, seen


def test_ftp_upload_through_nginx_is_served_over_http(swarm):
    name = f"upload-{secrets.token_hex(4)}.txt"
    payload = secrets.token_hex(2048).encode()
    with ftplib.FTP(timeout=20) as ftp:
        ftp.connect(swarm.edge, 2121)  # node1's host-mode port, in the run's network
        ftp.login(FTP_USER, FTP_PASSWORD)
        ftp.storbinary(f"STOR {name}", io.BytesIO(payload))
    nodes = set()
    for _ in range(20):  # every HTTP replica, on every node, reads the shared library
        status, who = get(swarm.http_port, f"/{name}")
        assert status == 200, f"{status} from {who}"
        nodes.add(who.split("/")[1])
    assert len(nodes) >= 2


def wait_until(what: str, check, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not {what} after {timeout:.0f} s"
        time.sleep(1)


def targets_up(port: int) -> collections.Counter | str:
    """service -> its targets that are up in the job of their protocol (nginx: its exporter's,
    in the job `nginx`); the error while Prometheus does not answer."""
    query = urllib.parse.urlencode({"state": "active"})
    try:
        url = f"http://127.0.0.1:{port}/api/v1/targets?{query}"
        with urllib.request.urlopen(url, timeout=10) as response:
            targets = json.load(response)["data"]["activeTargets"]
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"
    services = [(t["labels"].get("service", ""), t) for t in targets]  # Prometheus' has none
    return collections.Counter(
        service
        for service, t in services
        if t["health"] == "up" and t["labels"]["job"] == service.split("-")[0]
    )


def test_prometheus_on_the_edge_sees_every_replica(swarm, tmp_path):
    with swarm.tunnel("node1", swarm.prometheus_port) as port:
        started, seen, every = time.monotonic(), [], {**REPLICAS, "nginx": 1}
        try:
            wait_until("up", lambda: seen.append(targets_up(port)) or seen[-1] == every, 60)
        except AssertionError:
            pytest.fail(f"not every target up in Prometheus after 60 s; last seen: {seen[-1]}")
        TIMINGS["every replica and the exporter up in Prometheus"] = time.monotonic() - started
        page = f"http://127.0.0.1:{port}/consoles/cluster.html"
        every_up = {service: ["up"] * tasks for service, tasks in REPLICAS.items()}
        wait_until("every replica on the page", lambda: page_health(page, tmp_path) == every_up, 60)
    # Swarm binds the port on every address of node1: nginx answers only node1's own connections
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"http://{swarm.edge}:{swarm.prometheus_port}/-/ready", timeout=10)
    assert refused.value.code == 403


def test_no_op_deploy_is_quick(swarm):
    again = swarm.deploy("v1")
    assert again.returncode == 0, again.output
    assert "layer(s) sent" not in again.output
    TIMINGS["no-op swarm.deploy"] = again.seconds
    assert again.seconds < 10
    nothing = swarm.fab("swarm.rollback")  # the no-op changed no spec: nothing to go back to
    assert nothing.returncode == 1
    assert "no service has a previous version to roll back to" in nothing.output


def test_new_version_rolls_without_a_failed_request(swarm):
    with Load(http_attempt(swarm.http_port), threads=2, pause=0.05) as load:
        update = swarm.deploy("v2")
    assert update.returncode == 0, update.output
    TIMINGS["new version swarm.deploy"] = update.seconds
    versions = collections.Counter(who.rsplit("/", 1)[1] for who in load.ok.elements())
    print(f"{load.sent} requests during the update: {dict(versions)}")
    assert load.failures == [], load.failures[:5]
    assert update.seconds < 120
    assert {version for _, version in served(swarm)} == {"v2"}


def test_rollback_then_forward_again(swarm):
    back = swarm.fab("swarm.rollback")
    assert back.returncode == 0, back.output
    TIMINGS["swarm.rollback (v2 -> v1)"] = back.seconds
    assert {version for _, version in served(swarm)} == {"v1"}
    forward = swarm.deploy("v2")
    assert forward.returncode == 0, forward.output
    assert "layer(s) sent" not in forward.output  # every node kept v2's image
    assert {version for _, version in served(swarm)} == {"v2"}


def test_never_healthy_version_is_rolled_back(swarm):
    with Load(http_attempt(swarm.http_port), threads=2, pause=0.05) as load:
        bad = swarm.deploy("v3")
    assert bad.returncode == 1, bad.output
    assert "rolled back by Swarm, the old version serves" in bad.output
    TIMINGS["never-healthy swarm.deploy until rolled back"] = bad.seconds
    versions = collections.Counter(who.rsplit("/", 1)[1] for who in load.ok.elements())
    print(f"{load.sent} requests during the failed update: {dict(versions)}")
    assert load.failures == [], load.failures[:5]
    assert {version for _, version in served(swarm)} == {"v2"}
    status = swarm.fab("swarm.status")
    assert status.returncode == 0, status.output
    assert " v3 " not in status.output
    again = swarm.fab("swarm.rollback")  # the previous spec is v3 now: nothing to do
    assert again.returncode == 1
    assert "already rolled back by Swarm (v2), left alone" in again.output
    assert "no service has a previous version to roll back to" in again.output


def tasks_on(swarm, node: str) -> list[str]:
    out = swarm.manager("node", "ps", node, "--filter", "desired-state=running", "-q")
    return out.split()


def test_drained_then_killed_worker(swarm):
    with Load(http_attempt(swarm.http_port), threads=2, pause=0.05) as load:
        assert tasks_on(swarm, "node2")
        swarm.manager("node", "update", "--availability", "drain", "node2")
        TIMINGS["drain node2 until converged"] = converged(swarm)
        assert tasks_on(swarm, "node2") == []
        drained = (load.sent, len(load.failures))
        swarm.manager("node", "update", "--availability", "active", "node2")
        assert tasks_on(swarm, "node3")
        swarm.node("node3").container.kill()
        started = time.monotonic()
        # Swarm marks the node down when its heartbeats stop, then starts its tasks elsewhere
        state = ("node", "inspect", "node3", "--format", "{{.Status.State}}")
        wait_until("down", lambda: swarm.manager(*state).strip() == "down")
        TIMINGS["node3 killed until marked down"] = time.monotonic() - started
        wait_until("moved", lambda: tasks_on(swarm, "node3") == [])
        converged(swarm)
        window = time.monotonic() - started
        TIMINGS["node3 killed until converged on node1 and node2"] = window
    sent, failed = load.sent - drained[0], len(load.failures) - drained[1]
    print(
        f"drain: {drained[0]} requests, {drained[1]} failed; node3 killed: {sent} requests "
        f"in {window:.0f} s, {failed} failed: {load.failures[drained[1] :][:5]}"
    )
    # a drain stops tasks gracefully (SIGTERM, in-flight requests finish) and nginx retries on
    # another replica: 0 failed in 7 runs of 8, 1 of 413 in the other
    assert drained[1] <= 2, load.failures[: drained[1]]
    # nginx retries a request on another replica (proxy_next_upstream): a few may still fail
    assert failed <= max(10, sent // 20)
    # nginx takes the new tasks' addresses within its 3 s re-render
    seen: set[str] = set()
    for _ in range(15):
        seen |= {node for node, _ in served(swarm, requests=20)}
        if seen >= {"node1", "node2"}:
            break
        time.sleep(1)
    assert seen == {"node1", "node2"}


def test_leave_takes_the_swarm_apart(swarm):
    result = swarm.fab("swarm.leave")
    assert result.returncode == 0, result.output
    for name in ("node1", "node2"):
        state = swarm.node(name).docker("info", "--format", "{{.Swarm.LocalNodeState}}")
        assert state.strip() == "inactive"
