"""The stack itself: health, limits, users, published ports, and a clean `down -v`."""

from __future__ import annotations

import pytest
from cluster_clients import ECHO_PORT, HOST, PUBLISHED_TCP

pytestmark = [pytest.mark.docker, pytest.mark.timeout(600)]

SERVICES = {
    "nginx", "http-fork", "http-prefork", "http-thread", "http-threadpool",
    "ftp-fork", "ftp-thread", "echo-tcp", "echo-udp",
}  # fmt: skip


def test_every_container_is_healthy_restartable_and_bounded(cluster):
    containers = {c.labels["com.docker.compose.service"]: c for c in cluster.containers()}
    assert set(containers) == SERVICES
    for service, container in containers.items():
        host = container.attrs["HostConfig"]
        assert cluster.health(service) == "healthy", service
        assert host["RestartPolicy"]["Name"] == "unless-stopped", service
        # CPU by weight, not by quota (a quota throttled bursts: docs/cluster.md)
        assert host["Memory"] > 0 and host["CpuShares"] > 0 and host["PidsLimit"] > 0, service
        assert host["NanoCpus"] == 0 and host["CpuQuota"] == 0, service


def test_only_nginx_publishes_and_only_on_loopback(cluster):
    published = {}
    for container in cluster.containers():
        for port, bindings in (container.attrs["HostConfig"]["PortBindings"] or {}).items():
            service = container.labels["com.docker.compose.service"]
            published[port] = (service, {b["HostIp"] for b in bindings})
    expected = {f"{port}/tcp" for port in PUBLISHED_TCP} | {f"{ECHO_PORT}/udp"}
    assert set(published) == expected  # stub_status (8081) stays inside
    assert {service for service, _ in published.values()} == {"nginx"}
    assert all(hosts == {HOST} for _, hosts in published.values())


def test_stub_status_answers_inside(cluster):
    status = cluster.compose("exec", "-T", "nginx", "nginx-entrypoint", "status")
    assert status.startswith("Active connections:")


def test_replicas_run_as_a_user_and_http_cannot_write_the_library(cluster):
    for service in ("http-fork", "ftp-thread", "echo-udp"):
        assert cluster.compose("exec", "-T", service, "id", "-un").strip() == "server"
    write = "touch /srv/library/x 2>&1 || echo refused"
    refused = cluster.compose("exec", "-T", "http-thread", "sh", "-c", write)
    assert "Read-only file system" in refused and "refused" in refused
    probe = "touch /srv/library/.w && rm /srv/library/.w && echo writable"
    assert cluster.compose("exec", "-T", "ftp-fork", "sh", "-c", probe).strip() == "writable"


@pytest.mark.cluster_teardown
def test_down_leaves_no_container_network_or_volume(cluster):
    assert all(cluster.leftovers().values())  # there was a stack to take down
    cluster.compose("down", "--volumes", "--remove-orphans", "--timeout", "20")
    assert cluster.leftovers() == {"containers": [], "networks": [], "volumes": []}
