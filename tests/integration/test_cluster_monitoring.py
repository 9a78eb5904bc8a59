"""The `monitoring` profile: Prometheus scrapes every replica (HTTP, FTP, echo: each one's
metrics listener) and nginx's exporter, its counters add up to the traffic sent and the FTP
sessions made, a stopped replica shows as down, and the status page renders in a real browser
(headless Chromium).

The profile's services join the session's stack (same project) for this module only and are
removed with their volume afterwards, so the other cluster tests see the stack they expect.
"""

from __future__ import annotations

import ftplib
import io
import json
import os
import secrets
import shutil
import time
import urllib.parse
import urllib.request
from collections import Counter
from datetime import datetime

import pytest
from cluster_clients import FTP_PORT, HOST, HTTP_REPLICAS, get
from conftest import docker_client
from status_page import page_health, render

from harness import wait_for

pytestmark = [pytest.mark.docker, pytest.mark.timeout(600)]

PROMETHEUS = f"http://{HOST}:9090"
STATUS_PAGE = f"{PROMETHEUS}/consoles/cluster.html"
MONITORING = ("prometheus", "nginx-exporter")
SENT = 300  # GETs of a missing file: 404s, which neither health checks nor scrapes make
FTP_SESSIONS = 6  # anonymous, each a download and a listing (health checks only get a 220)
#: compose service -> Prometheus job: every replica's metrics listener is scraped
REPLICAS = {
    **dict.fromkeys(HTTP_REPLICAS, "http"),
    **dict.fromkeys(("ftp-fork", "ftp-thread"), "ftp"),
    **dict.fromkeys(("echo-tcp", "echo-udp"), "echo"),
}


@pytest.fixture(scope="module")
def monitoring(cluster):
    """Prometheus and the exporter, up on the session's stack; removed even if a test fails."""
    try:
        cluster.compose(
            "--profile", "monitoring", "up", "--build", "--detach", "--wait",
            "--wait-timeout", "180", *MONITORING, timeout=480,
        )  # fmt: skip
        yield cluster
    finally:
        cluster.compose(
            "--profile", "monitoring", "rm", "--stop", "--force", *MONITORING, check=False
        )
        for volume in docker_client().volumes.list(filters={"name": f"{cluster.project}_"}):
            if volume.name == f"{cluster.project}_prometheus":
                volume.remove(force=True)


def prometheus(path: str, **params: str) -> dict:
    url = f"{PROMETHEUS}{path}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=10) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    return body["data"]


def active_targets() -> list[dict]:
    return prometheus("/api/v1/targets", state="active")["activeTargets"]


def replicas_up() -> Counter:
    """Replicas' targets that are up, by compose service, checked against the job they are in."""
    up = [t["labels"] for t in active_targets() if t["health"] == "up"]
    return Counter(
        labels["service"]
        for labels in up
        if REPLICAS.get(labels.get("service", "")) == labels["job"]
    )


def scraped_since(moment: float, job: str = "http") -> bool:
    """Every target of `job` has been scraped after `moment` (Unix time)."""
    targets = [t for t in active_targets() if t["labels"]["job"] == job]
    return bool(targets) and all(_unix(t["lastScrape"]) > moment for t in targets)


def _unix(rfc3339: str) -> float:
    return datetime.fromisoformat(rfc3339[:26].rstrip("Z") + "+00:00").timestamp()


def not_found_by_service() -> dict[str, int]:
    result = prometheus(
        "/api/v1/query", query='sum by (service) (http_requests_total{job="http",code="404"})'
    )["result"]
    return {sample["metric"]["service"]: int(float(sample["value"][1])) for sample in result}


def test_every_replica_and_the_exporter_are_up(monitoring):
    wanted = Counter(dict.fromkeys(REPLICAS, 1))  # one container each: one target each
    assert wait_for(lambda: replicas_up() == wanted, 60, 1, what=f"targets up: {wanted}")
    exporter = wait_for(
        lambda: [t for t in active_targets() if t["labels"]["job"] == "nginx"
                 and t["health"] == "up"],
        60, 1, what="the nginx exporter's target up",
    )  # fmt: skip
    assert exporter[0]["labels"]["service"] == "nginx"
    active = prometheus("/api/v1/query", query="nginx_connections_active")["result"]
    assert active and float(active[0]["value"][1]) >= 1  # the exporter's own connection


def test_request_counters_add_up_to_what_was_sent(monitoring):
    start = time.time()
    wait_for(lambda: scraped_since(start), 30, 1, what="a scrape of every replica")
    before = not_found_by_service()
    token = secrets.token_hex(4)
    served = Counter(get(f"/monitoring-missing-{token}-{i}").served_by for i in range(SENT))
    assert sum(served.values()) == SENT and set(served) <= set(HTTP_REPLICAS), served
    sent = time.time()
    wait_for(lambda: scraped_since(sent), 30, 1, what="a scrape of every replica after the load")
    after = not_found_by_service()
    counted = {service: after.get(service, 0) - before.get(service, 0) for service in after}
    print(f"\n{SENT} GETs: by X-Served-By {dict(served)}, counted by Prometheus {counted}")
    assert {s: n for s, n in counted.items() if n} == dict(served)


FTP_TOTALS = {
    "logins": 'ftp_logins_total{outcome="ok"}',
    "failed logins": 'ftp_logins_total{outcome="failed"}',
    "downloads": 'ftp_transfers_total{direction="download",outcome="ok"}',
    "listings": 'ftp_transfers_total{direction="listing",outcome="ok"}',
    "failed transfers": 'ftp_transfers_total{outcome!="ok"}',
    "bytes down": 'ftp_transfer_bytes_total{direction="download"}',
}


def ftp_totals() -> dict[str, int]:
    """Each FTP_TOTALS series summed over the FTP replicas, as Prometheus last scraped them."""
    totals = {}
    for name, series in FTP_TOTALS.items():
        selector = series.replace("{", '{job="ftp",', 1)
        result = prometheus("/api/v1/query", query=f"sum({selector})")
        totals[name] = int(float(result["result"][0]["value"][1])) if result["result"] else 0
    return totals


def anonymous_session() -> int:
    """Log in anonymously through nginx, download README.txt and list; the bytes received."""
    with ftplib.FTP() as client:
        client.connect(HOST, FTP_PORT, timeout=20)
        client.login()
        got = io.BytesIO()
        client.retrbinary("RETR README.txt", got.write)
        assert "README.txt" in client.nlst()
        return len(got.getvalue())


def test_ftp_counters_add_up_to_the_sessions_made(monitoring):
    start = time.time()
    wait_for(lambda: scraped_since(start, "ftp"), 30, 1, what="a scrape of every FTP replica")
    before = ftp_totals()
    received = sum(anonymous_session() for _ in range(FTP_SESSIONS))
    with ftplib.FTP() as client:
        client.connect(HOST, FTP_PORT, timeout=20)
        with pytest.raises(ftplib.error_perm):
            client.login("library", "not the password")
    done = time.time()
    wait_for(lambda: scraped_since(done, "ftp"), 30, 1, what="a scrape of every FTP replica after")
    after = ftp_totals()
    counted = {name: after[name] - before[name] for name in FTP_TOTALS}
    print(f"\n{FTP_SESSIONS} FTP sessions and a failed login: counted by Prometheus {counted}")
    assert counted == {
        "logins": FTP_SESSIONS, "failed logins": 1, "downloads": FTP_SESSIONS,
        "listings": FTP_SESSIONS, "failed transfers": 0, "bytes down": received,
    }  # fmt: skip


def test_status_page_in_a_browser_shows_every_replica_up(monitoring, tmp_path):
    with urllib.request.urlopen(STATUS_PAGE, timeout=10) as response:
        page = response.read().decode()
    assert "src=" not in page and "href=" not in page  # nothing loaded from elsewhere
    every_up = {service: ["up"] for service in REPLICAS}
    wait_for(
        lambda: page_health(STATUS_PAGE, tmp_path) == every_up,
        60,
        2,
        what="every replica up on the page",
    )
    render(STATUS_PAGE, tmp_path, "--screenshot=status.png")
    assert (tmp_path / "status.png").stat().st_size > 1000
    if keep := os.environ.get("CLUSTER_STATUS_SCREENSHOT"):  # docs/cluster-status.png
        shutil.copy(tmp_path / "status.png", keep)


def test_a_stopped_replica_is_down_in_prometheus_and_on_the_page(monitoring, tmp_path):
    stopped = "http-thread"
    monitoring.compose("stop", stopped)
    try:
        wait_for(
            lambda: stopped not in replicas_up(), 30, 1, what=f"{stopped} not up in the targets"
        )
        health = wait_for(
            lambda: (h := page_health(STATUS_PAGE, tmp_path)).get(stopped) == ["down"] and h,
            60, 2, what=f"{stopped} down on the page",
        )  # fmt: skip
        assert all(health[s] == ["up"] for s in REPLICAS if s != stopped), health
    finally:
        monitoring.compose("start", stopped)
        monitoring.wait_healthy(stopped, timeout=90)
    wait_for(lambda: replicas_up()[stopped] == 1, 60, 1, what=f"{stopped} up again in the targets")
