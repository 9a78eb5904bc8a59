"""HTTP through nginx: balancing, the replicas' models, forwarding, losing and regaining one."""

from __future__ import annotations

import json
import re
import secrets
import time

import pytest
from cluster_clients import HTTP_REPLICAS, Load, get, get_until

pytestmark = [pytest.mark.docker, pytest.mark.timeout(600)]


def test_every_replica_answers_and_load_is_spread(cluster):
    with Load(threads=4, seconds=20, max_requests=100) as load:
        load.wait_for(requests=400)  # from 4 keep-alive clients
    counts = load.by_replica()
    print(f"\n400 GETs through nginx, by replica: {dict(sorted(counts.items()))}")
    assert load.failures == []
    assert set(counts) == set(HTTP_REPLICAS)
    # least_conn over four equal replicas: none should be starved
    assert min(counts.values()) >= 40, counts


def test_each_replica_names_its_model(cluster):
    """The health JSON and the metrics name the model; X-Served-By names the replica."""
    models = {}

    def seen_all(replies):
        for reply in replies:
            models[reply.served_by] = json.loads(reply.body)["model"]
        return set(models) == set(HTTP_REPLICAS)

    get_until(seen_all, "/-/health", attempts=200)
    assert models == HTTP_REPLICAS

    info = {}

    def metrics_of_all(replies):
        for reply in replies:
            match = re.search(r"^server_info\{(.*)\} 1$", reply.body.decode(), re.MULTILINE)
            labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1)))
            info[labels["served_by"]] = labels["model"]
        return set(info) == set(HTTP_REPLICAS)

    get_until(metrics_of_all, "/-/metrics", attempts=200)
    assert info == HTTP_REPLICAS


def test_nginx_names_the_upstream_and_forwards_the_client(cluster):
    """The replica logs the client nginx saw (X-Forwarded-For), not nginx and not a forgery.
    Replicas keep no access log by default (nginx has every line), so one gets it for this."""
    service = "http-thread"
    cluster.recreate(service, CLUSTER_REPLICA_ACCESS_LOG="-")
    try:
        token = secrets.token_hex(6)
        path = f"/index.html?trace={token}"
        forged = {"X-Forwarded-For": "forged-client"}
        replies = get_until(lambda r: r[-1].served_by == service, path, 600, 0.05, forged)
        reply = replies[-1]
        assert reply.status == 200 and b"shared library" in reply.body
        assert re.fullmatch(r"[0-9a-f.:]+:8080", reply.headers["X-Upstream-Addr"])
        nginx_line = cluster.log_line("nginx", token, f"served_by={service}")
        client = nginx_line.split()[0]
        replica_line = cluster.log_line(service, token)
        assert replica_line.split()[0] == client, (nginx_line, replica_line)
    finally:
        cluster.recreate(service)


def test_nginx_starts_and_serves_while_a_replica_is_down(cluster):
    """nginx reads no replica name itself: a stopped one is rendered `down`, and taken back
    (rendered, reloaded) when it runs again."""
    service = "http-fork"
    cluster.compose("stop", "--timeout", "15", service)
    try:
        cluster.compose("restart", "nginx")
        cluster.wait_healthy("nginx")
        live = cluster.compose("exec", "-T", "nginx", "cat", "/etc/nginx/live/http.conf")
        assert f"down; # {service}: not running" in live
        replies = [get("/index.html") for _ in range(40)]
        assert all(reply.status == 200 for reply in replies)
        assert service not in {reply.served_by for reply in replies}
    finally:
        cluster.compose("start", service)
    cluster.wait_healthy(service)
    get_until(lambda replies: replies[-1].served_by == service, "/", attempts=600, pause=0.1)


def test_replicas_share_nothing_but_the_library(cluster):
    """A missing file is a 404 from whichever replica answers, not a retry storm."""
    reply = get("/no-such-file.txt")
    assert reply.status == 404 and reply.served_by in HTTP_REPLICAS


@pytest.mark.parametrize("service", ["http-prefork", "http-thread"])
def test_stopping_a_replica_under_load_fails_no_request(cluster, service):
    with Load(threads=4, seconds=40, max_requests=3000) as load:
        load.wait_for(requests=100)
        stop_from = load.now()
        cluster.compose("stop", "--timeout", "15", service)
        stopped_at = load.now()
        # traffic goes on without it, past nginx's fail_timeout (5 s), when nginx tries the
        # stopped replica again and must fall through to the next one
        time.sleep(8)
    print(
        f"\n{load.count} GETs; {service} stopped between {stop_from:.1f}s and {stopped_at:.1f}s;"
        f" by replica: {dict(sorted(load.by_replica().items()))}; {load.retried} resent"
    )
    assert load.failures == [], load.failures[:10]
    # stopping a replica closes no client connection to nginx; nginx itself closes each one
    # after 1,000 requests (keepalive_requests), and the client sends its next on a new one
    assert load.retried <= load.count // 1000
    assert service in load.by_replica()  # it did serve before it was stopped
    assert service not in load.by_replica(since=stopped_at + 0.5)

    cluster.compose("start", service)
    cluster.wait_healthy(service)
    # nginx takes it back: after fail_timeout, or at once when the entrypoint's watcher reloads
    # nginx because it came back on a new address
    replies = get_until(
        lambda replies: replies[-1].served_by == service, "/index.html", attempts=600, pause=0.1
    )
    assert all(reply.status == 200 for reply in replies)


def test_graceful_reload_under_load_fails_no_request(cluster):
    nginx = cluster.container("nginx")
    started = nginx.attrs["State"]["StartedAt"]
    with Load(threads=4, seconds=30, max_requests=2000) as load:
        load.wait_for(requests=100)
        for _ in range(2):
            cluster.compose("exec", "-T", "nginx", "nginx-entrypoint", "reload")
            load.wait_for(requests=load.count + 100)
    print(f"\n{load.count} GETs over 2 reloads, {load.retried} resent on a new connection")
    assert load.failures == [], load.failures[:10]
    # at most each client's idle connection, once per reload, and once per 1,000 requests
    assert load.retried <= 4 * 2 + load.count // 1000
    nginx.reload()
    assert nginx.attrs["State"]["StartedAt"] == started, "nginx restarted instead of reloading"


def test_a_crashed_replica_is_restarted_and_rejoins(cluster):
    """SIGKILL the server in http-threadpool under load: nginx retries elsewhere, Docker's
    restart policy brings the container back, and it serves again."""
    service = "http-threadpool"
    container = cluster.container(service)
    restarts = container.attrs["RestartCount"]
    with Load(threads=4, seconds=40, max_requests=3000) as load:
        load.wait_for(requests=100)
        # every process of the container's user (the shell's kill: there is no /bin/kill);
        # PID 1, docker-init, is immune, and exits when its child dies as in a crash
        cluster.compose("exec", "-T", service, "sh", "-c", "kill -KILL -1", check=False)
        load.wait_for(requests=load.count + 300)
    assert load.failures == [], load.failures[:10]

    deadline = time.monotonic() + 60
    while container.attrs["RestartCount"] == restarts and time.monotonic() < deadline:
        time.sleep(0.5)
        container.reload()
    assert container.attrs["RestartCount"] == restarts + 1
    cluster.wait_healthy(service)
    get_until(lambda replies: replies[-1].served_by == service, "/", attempts=600, pause=0.1)
