"""The compose cluster through its nginx, with 1, 2 and 4 HTTP replicas.

The cluster runs as shipped (compose.yaml: its images, CPU limits, logging), under its own
project name, with one change made by an override file in the run's temporary folder: nginx's
HTTP upstream is one service, `http-prefork`, scaled to N replicas, so the replicas are alike
and N is the only thing that changes. nginx is restarted after each scaling, since it resolves
the service name (to N addresses) when it starts; its entrypoint's re-resolving watcher is
slowed to once a day, since it would reload nginx over and over for a scaled service. The load
is wrk on a small static file of the cluster's library, published on 127.0.0.1:8080.
Everything is taken down at the end.
"""

from __future__ import annotations

import http.client
import re
import socket
import subprocess
import time

from . import wrk
from .context import Context
from .procs import ROOT

PROJECT = "bench-cluster"
SERVICE = "http-prefork"
PORT = 8080
PATH = "/index.html"
UPSTREAM = re.compile(r"(upstream http_replicas \{.*?\n)((?:\s*server [^\n]*\n)+)", re.S)


def compose(ctx: Context, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    files = ["-f", str(ROOT / "compose.yaml"), "-f", str(ctx.work / "cluster-override.yaml")]
    argv = ["docker", "compose", "-p", PROJECT, *files, *args]
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def write_override(ctx: Context) -> str | None:
    """The override (nginx's http.conf with one scaled upstream); an error, or None."""
    try:
        conf = (ROOT / "nginx" / "http.conf").read_text()
    except OSError as exc:
        return f"no nginx/http.conf: {exc}"
    line = f"    server {SERVICE}:{PORT} max_fails=1 fail_timeout=5s;\n"
    new, found = UPSTREAM.subn(lambda m: m.group(1) + line, conf, count=1)
    if not found:
        return "nginx/http.conf has no `upstream http_replicas` block to scale"
    (ctx.work / "cluster-http.conf").write_text(new)
    # The entrypoint's watcher compares each name's *first* address; a scaled service's
    # addresses come back in varying order, so it would reload nginx every few seconds. nginx
    # is restarted after each scaling instead, which resolves all N addresses.
    (ctx.work / "cluster-override.yaml").write_text(
        "services:\n  nginx:\n"
        '    environment: { NGINX_WATCH_INTERVAL: "86400" }\n'
        "    volumes:\n"
        f"      - {ctx.work / 'cluster-http.conf'}:/etc/nginx/cluster/http.conf:ro\n"
    )
    return None


def unavailable(ctx: Context) -> str | None:
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
    return write_override(ctx)


def run(ctx: Context) -> None:
    counts, runs = ctx.settings.replicas, ctx.settings.runs
    ctx.progress.plan(len(counts) * runs)
    reason = unavailable(ctx)
    if reason:
        for n in counts:
            _figure(ctx, n).notes.append(f"not measured: {reason}")
        ctx.progress.say(f"cluster: not measured: {reason}")
        return
    try:
        error = prepare(ctx)
        current = 0
        for rnd in range(runs):
            for n in counts if rnd % 2 == 0 else tuple(reversed(counts)):
                if error is None and n != current:
                    error, current = scale(ctx, n), n
                measure(ctx, n, rnd, error)
    finally:
        ctx.progress.say("cluster: taking it down")
        compose(ctx, "down", "--remove-orphans", "--volumes", timeout=300)


def _figure(ctx: Context, n: int):
    name = f"{n} replica" + ("s" if n > 1 else "")
    return ctx.results.figure("cluster", "index", name, "ours", "req/s")


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


def scale(ctx: Context, n: int) -> str | None:
    """N replicas up and healthy, nginx restarted onto them; an error, or None."""
    ctx.progress.say(f"cluster: scaling {SERVICE} to {n}")
    up = compose(ctx, "up", "-d", "--wait", "--wait-timeout", "180", "--scale", f"{SERVICE}={n}")
    if up.returncode:
        return f"up failed: {up.stderr.strip()[-200:]}"
    compose(ctx, "restart", "nginx", timeout=120)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        seen = replicas_seen(4 * n)
        if len(seen) >= n:
            return None
        time.sleep(1)
    return f"nginx reached {len(seen)} of {n} replicas"


def replicas_seen(requests: int) -> set[str]:
    """The replica addresses nginx names (X-Upstream-Addr) over fresh connections."""
    seen = set()
    for _ in range(requests):
        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=5)
        try:
            conn.request("GET", PATH)
            resp = conn.getresponse()
            resp.read()
            if resp.status == 200:
                seen.add(resp.getheader("X-Upstream-Addr", "").split(",")[-1].strip())
        except (OSError, http.client.HTTPException):
            pass
        finally:
            conn.close()
    return seen


def measure(ctx: Context, n: int, rnd: int, error: str | None) -> None:
    s, fig = ctx.settings, _figure(ctx, n)
    label = f"cluster {fig.server} {rnd + 1}/{s.runs}"
    if error:
        fig.notes.append(error)
        ctx.progress.step(f"{label}: skipped: {error}")
        return
    try:
        result = wrk.run(f"http://127.0.0.1:{PORT}{PATH}", s.duration, s.connections, s.wrk_threads)
    except (ValueError, OSError, subprocess.SubprocessError) as exc:
        fig.notes.append(f"round {rnd + 1}: wrk failed: {exc}")
        ctx.progress.step(f"{label}: wrk failed")
        return
    fig.samples.append(result.rate)
    if result.errors:
        fig.notes.append(f"round {rnd + 1}: {result.error_note()}")
    ctx.progress.step(f"{label}: {result.rate:,.0f} req/s {result.error_note()}")
