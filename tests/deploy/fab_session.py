"""What the deploy and swarm suites' conftests share: their tests marked by the session fixture
they use, the Docker engine or a skip, `fab` run as a user runs it, and the timings printed at
the end. (Their bare hosts are deploy_hosts.py.)"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from deploy_hosts import REPO

import docker


def mark_session_tests(items, here: Path, fixture: str, marker: str) -> None:
    """The tests under `here` that use `fixture` get `marker` and room for a cold build of every
    image (the unit tests beside them need no Docker)."""
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here) and fixture in item.fixturenames:
            item.add_marker(getattr(pytest.mark, marker))
            item.add_marker(pytest.mark.timeout(900))


def engine() -> docker.DockerClient:
    """The Docker engine, or the test is skipped."""
    try:
        client = docker.from_env(timeout=300)
        client.ping()
    except Exception as exc:
        pytest.skip(f"no Docker engine: {exc}")
    return client


def fab(*args: str, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    """`fab ARGS` from the repository root with `env` added to ours; the result has .seconds and
    .output (stdout + stderr), both printed (pytest shows them when a test fails)."""
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "fabric", *args],
        cwd=REPO,
        env=dict(os.environ, **env),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
    )
    result.seconds = time.monotonic() - started
    result.output = result.stdout + result.stderr
    print(f"$ fab {' '.join(args)}  ({result.seconds:.1f} s, exit {result.returncode})")
    print(result.output)
    return result


def report_timings(terminalreporter, title: str, timings: dict[str, float] | None) -> None:
    if timings:
        terminalreporter.section(title)
        for what, seconds in timings.items():
            terminalreporter.write_line(f"{what}: {seconds:.1f} s")
