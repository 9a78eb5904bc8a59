"""The compose cluster's suite: its edge against one local process, then replicas scaling out.

Two cases under the benchmark's own compose project, the images built once:

- `edge` (bench/cluster_edge.py): the cluster as shipped against one local prefork process,
  both serving the library's small index.html;
- `scale` (bench/cluster_scale.py): one service, CPU-bound and held to a CPU quota per replica,
  at 1, 2 and 4 replicas.

wrk uses the suite's own connection count (settings.cluster_connections) and reports latency
percentiles beside the rate. Everything of the project (containers, networks, volumes) is taken
down at the end, whatever happened.
"""

from __future__ import annotations

import socket
import subprocess

from . import cluster_edge, cluster_scale
from .cluster_base import PORT, compose
from .context import Context
from .procs import ROOT


def unavailable() -> str | None:
    """Why the cluster cannot be benchmarked here and now, or None."""
    if not (ROOT / "compose.yaml").exists() or not (ROOT / "cluster").exists():
        return "no compose.yaml / ./cluster in the repository yet"
    if subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode:
        return "docker is not running"
    others = subprocess.run(
        ["docker", "ps", "-q", "--filter", "label=com.docker.compose.project"],
        capture_output=True, text=True, timeout=30,
    ).stdout.split()  # fmt: skip
    if others:
        return f"{len(others)} compose container(s) already running (the ports are fixed)"
    with socket.socket() as sock:
        if sock.connect_ex(("127.0.0.1", PORT)) == 0:
            return f"127.0.0.1:{PORT} is busy (another cluster up?)"
    return None


def run(ctx: Context) -> None:
    s = ctx.settings
    ctx.progress.plan((2 + len(s.replicas)) * s.runs)
    reason = unavailable()
    if reason:
        ctx.progress.say(f"cluster: not measured: {reason}")
        cluster_edge.run(ctx, f"not measured: {reason}")
        cluster_scale.run(ctx, f"not measured: {reason}")
        return
    try:
        error = prepare(ctx)
        cluster_edge.run(ctx, error)
        cluster_scale.run(ctx, error)
    finally:
        ctx.progress.say("cluster: taking it down")
        compose(ctx, "down", "--remove-orphans", "--volumes", timeout=300)


def prepare(ctx: Context) -> str | None:
    """Base image and compose plugin (the cluster's own set-up), then the images."""
    setup = ROOT / "scripts" / "setup-docker"
    if setup.exists():
        done = subprocess.run([str(setup)], capture_output=True, text=True, timeout=900)
        if done.returncode:
            return f"scripts/setup-docker failed: {done.stderr.strip()[-200:]}"
    ctx.progress.say("cluster: building the images")
    built = compose(ctx, "build", "--quiet", timeout=1200)
    return f"build failed: {built.stderr.strip()[-200:]}" if built.returncode else None
