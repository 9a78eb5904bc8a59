"""The cluster's status page (monitoring/consoles/cluster.html) in headless Chromium: the rows
its script drew, read from the DOM Chromium dumps. Used by the compose cluster's monitoring
tests and the swarm's (the same page, served by each one's Prometheus)."""

from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI") == "true"


class StatusPage(HTMLParser):
    """The status page's replica rows (service -> healths) and its line on nginx."""

    def __init__(self) -> None:
        super().__init__()
        self.health: dict[str, list[str]] = {}
        self.nginx = ""
        self._in_nginx = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr" and "data-service" in attrs:
            self.health.setdefault(attrs["data-service"], []).append(attrs["data-health"])
        self._in_nginx = attrs.get("id") == "nginx"

    def handle_endtag(self, tag):
        self._in_nginx = False

    def handle_data(self, data):
        if self._in_nginx:
            self.nginx += data


def browser() -> str:
    for name in ("chromium", "chromium-browser"):
        if shutil.which(name):
            return name
    if IN_CI:
        pytest.fail("the status page test needs chromium (scripts/setup-test installs it)")
    pytest.skip("the status page test needs chromium (scripts/setup-test installs it)")


def render(url: str, tmp_path: Path, *output: str) -> subprocess.CompletedProcess:
    """Load the page at `url` in headless Chromium; its script gets 10 s of (virtual) time."""
    command = [
        browser(), "--headless", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium'}", "--window-size=1100,420",
        "--virtual-time-budget=10000", *output, url,
    ]  # fmt: skip
    if os.geteuid() == 0:
        command.insert(2, "--no-sandbox")  # Chromium refuses to run as root with its sandbox
    return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=tmp_path)


def read_page(url: str, tmp_path: Path) -> StatusPage:
    """The page at `url` as Chromium drew it."""
    page = StatusPage()
    page.feed(render(url, tmp_path, "--dump-dom").stdout)
    return page


def page_health(url: str, tmp_path: Path) -> dict[str, list[str]]:
    """service -> the health of each of its rows, as the page at `url` shows them."""
    return read_page(url, tmp_path).health
