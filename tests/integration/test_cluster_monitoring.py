"""The `monitoring` profile: Prometheus scrapes every HTTP replica and nginx's exporter, its
counters add up to the traffic sent, a stopped replica shows as down, and the status page
renders in a real browser (headless Chromium).

The profile's services join the session's stack (same project) for this module only and are
removed with their volume afterwards, so the other cluster tests see the stack they expect.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections import Counter
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from cluster_clients import HOST, HTTP_REPLICAS, get
from conftest import IN_CI, docker_client

from harness import wait_for

pytestmark = [pytest.mark.docker, pytest.mark.timeout(600)]

PROMETHEUS = f"http://{HOST}:9090"
STATUS_PAGE = f"{PROMETHEUS}/consoles/cluster.html"
MONITORING = ("prometheus", "nginx-exporter")
SENT = 300  # GETs of a missing file: 404s, which neither health checks nor scrapes make


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
    """Targets of the http job that are up, by compose service."""
    return Counter(
        t["labels"]["service"]
        for t in active_targets()
        if t["labels"]["job"] == "http" and t["health"] == "up"
    )


def scraped_since(moment: float) -> bool:
    """Every http target has been scraped after `moment` (Unix time)."""
    targets = [t for t in active_targets() if t["labels"]["job"] == "http"]
    return bool(targets) and all(_unix(t["lastScrape"]) > moment for t in targets)


def _unix(rfc3339: str) -> float:
    return datetime.fromisoformat(rfc3339[:26].rstrip("Z") + "+00:00").timestamp()


def not_found_by_service() -> dict[str, int]:
    result = prometheus(
        "/api/v1/query", query='sum by (service) (http_requests_total{job="http",code="404"})'
    )["result"]
    return {sample["metric"]["service"]: int(float(sample["value"][1])) for sample in result}


def test_every_replica_and_the_exporter_are_up(monitoring):
    wanted = Counter(dict.fromkeys(HTTP_REPLICAS, 1))  # one container each: one target each
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


class _Rows(HTMLParser):
    """The status page's replica rows: service -> healths, from the DOM Chromium dumped."""

    def __init__(self) -> None:
        super().__init__()
        self.health: dict[str, list[str]] = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr" and "data-service" in attrs:
            self.health.setdefault(attrs["data-service"], []).append(attrs["data-health"])


def browser() -> str:
    for name in ("chromium", "chromium-browser"):
        if shutil.which(name):
            return name
    if IN_CI:
        pytest.fail("the status page test needs chromium (scripts/setup-test installs it)")
    pytest.skip("the status page test needs chromium (scripts/setup-test installs it)")


def render(tmp_path: Path, *output: str) -> subprocess.CompletedProcess:
    """Load the status page in headless Chromium; its script gets 10 s of (virtual) time."""
    command = [
        browser(), "--headless", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium'}", "--window-size=1100,420",
        "--virtual-time-budget=10000", *output, STATUS_PAGE,
    ]  # fmt: skip
    if os.geteuid() == 0:
        command.insert(2, "--no-sandbox")  # Chromium refuses to run as root with its sandbox
    return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=tmp_path)


def page_health(tmp_path: Path) -> dict[str, list[str]]:
    rows = _Rows()
    rows.feed(render(tmp_path, "--dump-dom").stdout)
    return rows.health


def test_status_page_in_a_browser_shows_every_replica_up(monitoring, tmp_path):
    with urllib.request.urlopen(STATUS_PAGE, timeout=10) as response:
        page = response.read().decode()
    assert "src=" not in page and "href=" not in page  # nothing loaded from elsewhere
    every_up = {service: ["up"] for service in HTTP_REPLICAS}
    wait_for(lambda: page_health(tmp_path) == every_up, 60, 2, what="every replica up on the page")
    render(tmp_path, "--screenshot=status.png")
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
            lambda: (h := page_health(tmp_path)).get(stopped) == ["down"] and h,
            60, 2, what=f"{stopped} down on the page",
        )  # fmt: skip
        assert all(health[s] == ["up"] for s in HTTP_REPLICAS if s != stopped), health
    finally:
        monitoring.compose("start", stopped)
        monitoring.wait_healthy(stopped, timeout=90)
    wait_for(lambda: replicas_up()[stopped] == 1, 60, 1, what=f"{stopped} up again in the targets")
