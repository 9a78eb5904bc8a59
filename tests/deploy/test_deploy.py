"""`fab deploy` end to end against bare hosts (conftest.py): from nothing to v1 (HTTP, FTP,
echo over TCP and UDP through the balancer), v2 under HTTP and FTP load with zero failures, a v3
that never becomes healthy, rollback, refused host keys, a host that is down. The tests share
one cluster and run in this order, each starting from the state the one before left (as a
cluster's life goes)."""

from __future__ import annotations

import collections
import json
import re
import secrets

import pytest
from conftest import (
    APP_HOSTS,
    CONTAINERS,
    ECHO_PORT,
    FTP_PORT,
    LB_HOST,
    LB_TLS_PORT,
    PASSIVE_PORTS,
    V3_HEALTH_TIMEOUT,
    version_image,
)
from deploy_clients import echo_tcp, echo_udp, ftp_round_trip, ftp_version, https_served_by
from deploy_hosts import tunnel
from deploy_load import Load, get, http_attempt, served_by
from status_page import read_page

from harness import wait_for

V1, V2, V3 = (version_image(v) for v in ("v1", "v2", "v3"))
TIMINGS: dict[str, float] = {}
pytest.deploy_timings = TIMINGS  # printed at the end of the session (conftest)


def live_versions(cluster) -> dict[str, str]:
    """host -> version label of the running dt-http container, read inside each bare host."""
    out = {}
    for name in APP_HOSTS:
        lines = cluster.app(name).docker(
            "ps", "--filter", "label=deploy.service=http", "--format",
            '{{.Label "deploy.version"}}',
        ).split()  # fmt: skip
        out[name] = ",".join(sorted(lines)) or "-"
    return out


def every_version(cluster) -> dict[str, str]:
    """host/service -> the versions of its running containers (one, unless a switch is on)."""
    found = collections.defaultdict(list)
    for name in APP_HOSTS:
        rows = cluster.app(name).docker(
            "ps", "--filter", "label=deploy.project=dt", "--format",
            '{{.Label "deploy.service"}} {{.Label "deploy.version"}}',
        ).splitlines()  # fmt: skip
        for row in rows:
            service, version = row.split()
            found[f"{name}/{service}"].append(version)
    return {key: ",".join(sorted(versions)) for key, versions in found.items()}


def passive_upstreams(cluster) -> set[str]:
    """The hosts nginx forwarded FTP data connections to, from its stream access log
    (`$remote_addr $protocol $server_port -> $upstream_addr ...`)."""
    log = cluster.app(LB_HOST).docker("logs", "--tail", "5000", "dt-balancer")
    found = set()
    for port, upstream in re.findall(r" TCP (\d+) -> ([\d.]+):\d+ ", log):
        if int(port) in PASSIVE_PORTS:
            found.add(upstream)
    return found


def stream_clients(cluster, port: int) -> set[str]:
    """The clients ($remote_addr) of the connections nginx's stream log shows on `port`."""
    log = cluster.app(LB_HOST).docker("logs", "--tail", "5000", "dt-balancer")
    return set(re.findall(rf"^(\S+) TCP {port} -> ", log, re.MULTILINE))


def ftp_logins(cluster) -> list[str]:
    """The addresses the FTP containers logged logins from (`USER logged in from ADDRESS`)."""
    found = []
    for name in ("app1", "app2"):
        host = cluster.app(name)
        for container in host.docker("ps", "-q", "--filter", "label=deploy.service=ftp").split():
            found += re.findall(r" logged in from (\S+)", host.docker("logs", container))
    return found


def failure_line(result) -> str:
    """The task's one-line verdict on stderr (warnings may come before it)."""
    lines = [line for line in result.stderr.splitlines() if " failed: " in line]
    assert len(lines) == 1, result.stderr
    return lines[0]


def assert_all_serve(cluster, version: str) -> None:
    want = {f"{h}/{version}" for h in APP_HOSTS}
    seen = served_by(cluster.lb_port, want)
    answered = {k.split(" ", 1)[1] for k in seen if k.startswith("200 ")}
    assert want <= answered, f"through the balancer: {dict(seen)}"
    assert answered <= want, f"another version answers too: {dict(seen)}"


def test_check_sees_every_host(cluster):
    result = cluster.fab("check")
    assert result.returncode == 0, result.output
    for name in [*APP_HOSTS, "lb"]:
        assert f"\n{name} " in result.output


def test_unknown_host_key_is_refused(cluster, tmp_path):
    app2 = f"[127.0.0.1]:{cluster.app('app2').ssh_port} "
    lines = cluster.known_hosts.read_text().splitlines(keepends=True)
    partial = tmp_path / "known_hosts"
    partial.write_text("".join(line for line in lines if not line.startswith(app2)))
    inventory = cluster.write_inventory(tmp_path / "inventory.toml", known_hosts=partial)

    refused = cluster.fab("deploy", "--image", V1, inventory=inventory)
    assert refused.returncode == 1
    assert "app2" in refused.stderr and "unknown host key ssh-ed25519 SHA256:" in refused.stderr
    assert "--accept-new-host-keys" in refused.stderr
    assert "Traceback" not in refused.output
    assert live_versions(cluster) == {h: "-" for h in APP_HOSTS}, "nothing may have started"

    accepted = cluster.fab("check", "--accept-new-host-keys", inventory=inventory)
    assert accepted.returncode == 0, accepted.output
    assert cluster.app("app2").host_key in partial.read_text()

    # a key that differs from the recorded one is refused, even with the opt-in
    swapped = tmp_path / "known_hosts_swapped"
    wrong = f"{app2}{cluster.app('app1').host_key}\n"
    swapped.write_text("".join(wrong if line.startswith(app2) else line for line in lines))
    inventory = cluster.write_inventory(tmp_path / "swapped.toml", known_hosts=swapped)
    changed = cluster.fab("check", "--accept-new-host-keys", inventory=inventory)
    assert changed.returncode == 1
    assert "app2" in changed.stderr and "host key CHANGED" in changed.stderr


def test_deploy_from_nothing(cluster):
    result = cluster.fab("deploy", "--image", V1)
    TIMINGS["first deploy (full images) to 3 app hosts + balancer"] = result.seconds
    assert result.returncode == 0, result.output
    assert live_versions(cluster) == {h: "v1" for h in APP_HOSTS}
    assert_all_serve(cluster, "v1")


def test_https_through_the_balancer_with_the_files_mode_0600(cluster):
    """balancer.tls: nginx terminates HTTPS on tls_listen with the inventory's certificate,
    which the deploy copied to the balancer host readable by the deploy user alone."""
    port, cafile = cluster.port(f"{LB_TLS_PORT}/tcp"), str(cluster.tls_dir / "ca.pem")
    served = https_served_by(port, cafile, requests=12)
    assert served and served <= {f"{h}/v1" for h in APP_HOSTS}
    folder = "/home/deploy/dt-deploy/balancer/tls"
    code, out = cluster.app(LB_HOST).container.exec_run(
        ["sh", "-c", f"stat -c '%a %U %n' {folder} {folder}/*"]
    )
    assert code == 0, out
    assert out.decode().split("\n")[:3] == [
        f"700 deploy {folder}",
        f"600 deploy {folder}/server.key",
        f"600 deploy {folder}/server.pem",
    ]
    status = cluster.fab("status")
    balancer = [row for row in status.stdout.splitlines() if row.split()[:2] == ["lb", "balancer"]]
    assert balancer and f",{LB_TLS_PORT}/tls" in balancer[0], status.stdout


def test_ftp_and_echo_through_the_balancer(cluster):
    ftp = cluster.port(f"{FTP_PORT}/tcp")
    ftp_round_trip(ftp)
    # least_conn spreads the sessions: both FTP hosts serve data connections on their ranges
    for _ in range(6):
        assert ftp_version(ftp) == "v1"
    ftp_hosts = {cluster.app(h).ip for h in ("app1", "app2")}
    assert passive_upstreams(cluster) == ftp_hosts
    payload = secrets.token_bytes(100_000)
    assert echo_tcp(cluster.port(f"{ECHO_PORT}/tcp"), payload) == payload
    datagram = secrets.token_bytes(512)
    assert echo_udp(cluster.port(f"{ECHO_PORT}/udp"), datagram) == datagram


def test_ftps_through_the_balancer_with_the_pair_0600_owned_by_the_server_user(cluster):
    """balancer.tls goes to the FTP hosts too: nginx passes FTP through, so AUTH TLS, PROT P,
    an upload and its download end at a replica, whose certificate the run's CA verifies. The
    pair is in a volume (0700, files 0600, the image's uid 10001), mounted read-only."""
    cafile = str(cluster.tls_dir / "ca.pem")
    for _ in range(2):  # least_conn: one session may land on either host
        ftp_round_trip(cluster.port(f"{FTP_PORT}/tcp"), cafile=cafile)
    for name in ("app1", "app2"):
        host = cluster.app(name)
        mount = host.docker("volume", "inspect", "-f", "{{.Mountpoint}}", "dt-ftp-tls").strip()
        code, out = host.container.exec_run(["sh", "-c", f"stat -c '%a %u %n' {mount} {mount}/*"])
        assert code == 0, out
        assert out.decode().split("\n")[:3] == [
            f"700 10001 {mount}",
            f"600 10001 {mount}/server.key",
            f"600 10001 {mount}/server.pem",
        ]
        live = host.docker("ps", "-q", "--filter", "label=deploy.service=ftp").split()
        mounts = json.loads(host.docker("inspect", "-f", "{{json .Mounts}}", *live))
        assert [(m["Name"], m["Destination"], m["RW"]) for m in mounts] == [
            ("dt-ftp-tls", "/run/deploy-tls", False)
        ]


def test_ftp_logs_the_client_as_the_balancer_saw_it(cluster):
    """proxy_protocol: a login is logged from the client's address (the one nginx saw the
    test's connection come from), never from the balancer's."""
    ftp_version(cluster.port(f"{FTP_PORT}/tcp"))
    logins, clients = ftp_logins(cluster), stream_clients(cluster, FTP_PORT)
    assert logins, "no login was logged"
    assert set(logins) <= clients, f"logged from {set(logins)}, nginx saw {clients}"
    assert cluster.app(LB_HOST).ip not in logins


def test_unchanged_image_is_a_fast_no_op(cluster):
    result = cluster.fab("deploy", "--image", V1)
    TIMINGS["no-op deploy to 3 app hosts"] = result.seconds
    assert result.returncode == 0, result.output
    assert result.output.count("is already live") == CONTAINERS
    assert "starting" not in result.output and "loaded" not in result.output
    assert f"{LB_HOST}: started" not in result.output  # Prometheus and the exporter as they were
    assert result.seconds < 10
    assert_all_serve(cluster, "v1")


def test_v2_under_load_loses_no_request_and_no_ftp_session(cluster):
    ftp = cluster.port(f"{FTP_PORT}/tcp")
    with (
        Load(http_attempt(cluster.lb_port)) as load,
        Load(lambda: ftp_version(ftp), threads=1, pause=0.2) as sessions,
    ):
        result = cluster.fab("deploy", "--image", V2)
    TIMINGS[f"new image (v2) to 3 app hosts ({CONTAINERS} containers), under load"] = result.seconds
    print(f"load: {load.sent} requests, {len(load.failures)} failed, by host: {dict(load.ok)}")
    print(f"FTP: {sessions.sent} sessions, {len(sessions.failures)} failed: {dict(sessions.ok)}")
    assert result.returncode == 0, result.output
    if load.failures or sessions.failures:
        print("balancer log:", cluster.balancer_errors(), sep="\n")
    assert load.failures == [], f"{len(load.failures)} of {load.sent}: {load.failures[:5]}"
    assert load.sent >= 100, f"the load sent only {load.sent} requests"
    assert any(k.endswith("/v1") for k in load.ok) and any(k.endswith("/v2") for k in load.ok)
    failed = sessions.failures
    assert failed == [], f"{len(failed)} of {sessions.sent} FTP sessions: {failed[:5]}"
    assert sessions.sent >= 10 and set(sessions.ok) == {"v1", "v2"}, dict(sessions.ok)
    assert live_versions(cluster) == {h: "v2" for h in APP_HOSTS}
    assert set(every_version(cluster).values()) == {"v2"}, every_version(cluster)
    assert len(every_version(cluster)) == CONTAINERS
    assert_all_serve(cluster, "v2")
    assert ftp_version(ftp) == "v2"
    assert result.seconds < 300
    # the previous version stays on every host, for rollback
    for name in APP_HOSTS:
        label = '{{index .Config.Labels "org.opencontainers.image.version"}}'
        previous = cluster.app(name).docker(
            "image", "inspect", "--format", label, "dt-deploy/http:previous"
        )
        assert previous.strip() == "v1"


def test_unhealthy_v3_stops_the_deploy_and_traffic_stays_on_v2(cluster, tmp_path):
    impatient = cluster.write_inventory(
        tmp_path / "inventory.toml", health_timeout=V3_HEALTH_TIMEOUT
    )
    result = cluster.fab("deploy", "--image", V3, inventory=impatient)
    assert result.returncode == 1
    line = failure_line(result)
    assert "app1: http v3 never became healthy" in line, line
    assert "app1 stays on v2" in line and "deploy stopped" in line
    assert "Traceback" not in result.output
    assert result.seconds < V3_HEALTH_TIMEOUT + 60
    assert live_versions(cluster) == {h: "v2" for h in APP_HOSTS}
    assert_all_serve(cluster, "v2")
    status = cluster.fab("status")
    assert status.returncode == 0, status.output


def test_rollback_returns_every_host_to_the_previous_version(cluster):
    result = cluster.fab("rollback")
    TIMINGS[f"rollback of 3 app hosts ({CONTAINERS} containers)"] = result.seconds
    assert result.returncode == 0, result.output
    assert live_versions(cluster) == {h: "v1" for h in APP_HOSTS}
    assert set(every_version(cluster).values()) == {"v1"}, every_version(cluster)
    assert_all_serve(cluster, "v1")
    assert ftp_version(cluster.port(f"{FTP_PORT}/tcp")) == "v1"


def test_a_host_that_is_down_stops_the_deploy_before_any_change(cluster):
    before = {h: cluster.app(h).docker("ps", "-q").split() for h in APP_HOSTS}
    down = cluster.app("app3").container
    down.pause()
    try:
        result = cluster.fab("deploy", "--image", V2)
    finally:
        down.unpause()
    assert result.returncode == 1
    line = failure_line(result)
    assert "app3 (" in line and "host down" in line and "nothing was changed" in line, line
    assert "app1" not in line and "app2" not in line
    assert {h: cluster.app(h).docker("ps", "-q").split() for h in APP_HOSTS} == before
    assert_all_serve(cluster, "v1")


def test_status_and_logs(cluster):
    status = cluster.fab("status")
    assert status.returncode == 0, status.output
    for name in APP_HOSTS:
        assert any(
            row.split()[:3] == [name, "http", "v1"] and "healthy" in row and " yes " in row
            for row in status.stdout.splitlines()
        ), status.stdout
    logs = cluster.fab("logs", "--lines", "5", "--balancer")
    assert logs.returncode == 0 and "== lb: dt-balancer" in logs.stdout


def prometheus(cluster, expr: str) -> list[tuple[dict, float]]:
    """An instant query to Prometheus on the balancer host: (labels, value) per series."""
    out = cluster.app(LB_HOST).docker(
        "exec", "dt-prometheus", "promtool", "query", "instant", "-o", "json",
        "http://127.0.0.1:9090", expr,
    )  # fmt: skip
    return [(r["metric"], float(r["value"][1])) for r in json.loads(out)]


def logins(cluster) -> float:
    return sum(v for _, v in prometheus(cluster, 'sum(ftp_logins_total{outcome="ok"})'))


def test_prometheus_on_the_balancer_scrapes_every_live_container(cluster):
    """[monitoring] (the session's inventory): after v2 moved every container to the other slot
    and the rollback moved it back, Prometheus on the balancer host scrapes exactly the live
    ones (v1), all up, and counts an FTP login; the nginx exporter beside it is up too."""
    nginx = wait_for(
        lambda: (n := prometheus(cluster, 'up{job="nginx"}')) and n[0][1] == 1 and n,
        60, 2, what="the nginx exporter up in Prometheus",
    )  # fmt: skip
    assert [labels["service"] for labels, _ in nginx] == ["nginx"]
    assert prometheus(cluster, "nginx_connections_accepted")[0][1] > 0
    up = wait_for(
        lambda: (u := prometheus(cluster, 'up{job="replicas"}')) and len(u) == CONTAINERS
        and all(v == 1 for _, v in u) and u, 60, 2, what="every live container up in Prometheus",
    )  # fmt: skip
    assert {labels["service"] for labels, _ in up} == {"http", "ftp", "echo-tcp", "echo-udp"}
    assert {labels["version"] for labels, _ in up} == {"v1"}
    before = logins(cluster)
    ftp_round_trip(cluster.port(f"{FTP_PORT}/tcp"))
    wait_for(lambda: logins(cluster) == before + 1, 30, 1, what="the FTP login in Prometheus")
    assert_all_serve(cluster, "v1")


def test_status_page_on_the_balancer_lists_every_live_container(cluster, tmp_path):
    """The cluster's status page (a console in the Prometheus image), read in headless Chromium
    through an SSH tunnel to the balancer host's loopback, as a user would: every live container
    a row that is up, and nginx scraped through its exporter. (The slots they left are rows
    marked down for 10 minutes.)"""
    with tunnel(cluster.app(LB_HOST), cluster.key, cluster.known_hosts, 9090) as port:
        url = f"http://127.0.0.1:{port}/consoles/cluster.html"
        live = {"http": 3, "ftp": 2, "echo-tcp": 1, "echo-udp": 1}
        page = wait_for(
            lambda: (p := read_page(url, tmp_path))
            and {service: rows.count("up") for service, rows in p.health.items()} == live
            and p, 60, 2, what="every live container up on the status page",
        )  # fmt: skip
    assert sum(live.values()) == CONTAINERS
    assert page.nginx.startswith("nginx (stub_status through the exporter): up, active"), page.nginx
    print(f"status page rows: {page.health}; {page.nginx}")


def test_teardown(cluster):
    refused = cluster.fab("teardown")
    assert refused.returncode == 1 and "--yes" in refused.stderr
    result = cluster.fab("teardown", "--yes")
    assert result.returncode == 0, result.output
    for name in [*APP_HOSTS, "lb"]:
        assert cluster.app(name).docker("ps", "-aq").split() == []
        assert "dt-ftp-tls" not in cluster.app(name).docker("volume", "ls", "-q").split()
    status = cluster.fab("status")
    assert status.returncode == 1 and "not running" in status.stderr
    with pytest.raises(OSError):
        get(cluster.lb_port, timeout=2)
