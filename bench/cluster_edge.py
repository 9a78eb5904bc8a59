"""The edge case: the cluster as shipped against one local process, on the same small file.

The cluster is compose.yaml unchanged (nginx on 127.0.0.1:8080 in front of its four HTTP
replicas: fork, prefork, thread, threadpool); the local process is `python -m server http
--model prefork --workers 2` on a loopback port, serving the cluster's own library folder
(docker/library). Both are up at once and measured in turn within each round, alternating.
"""

from __future__ import annotations

from .cluster_base import PORT, SUITE, compose, get, sample
from .context import Context
from .procs import ROOT, Proc, free_port
from .results import OURS

CASE = "edge"
EDGE = "nginx + 4 replicas"
LOCAL = "local prefork"
PATH = "/index.html"
LIBRARY = ROOT / "docker" / "library"
DETAILS = {
    EDGE: "compose.yaml as shipped: nginx -> http-fork, http-prefork (2 workers), "
    "http-thread, http-threadpool",
    LOCAL: "python -m server http --model prefork --workers 2 --root docker/library",
}


def run(ctx: Context, error: str | None) -> None:
    """Measure both, or note `error` (why the cluster cannot run) on both."""
    ctx.results.meta.setdefault("servers", {}).update(DETAILS)
    error = error or _up(ctx)
    if error:  # the local figure alone would compare with nothing
        for rnd in range(ctx.settings.runs):
            for server in (EDGE, LOCAL):
                _skip(ctx, server, rnd, error)
        return
    port = free_port()
    argv = [ctx.python, "-m", "server", "http", "--model", "prefork", "--workers", "2"]
    argv += ["--root", str(LIBRARY), "--bind", f"127.0.0.1:{port}", "--log-level", "warning"]
    local = Proc(LOCAL, argv, ctx.logs / "cluster-local-prefork.log", port=port)
    try:
        errors = {EDGE: check(PORT), LOCAL: _start(local)}
        urls = {EDGE: f"http://127.0.0.1:{PORT}{PATH}", LOCAL: f"http://127.0.0.1:{port}{PATH}"}
        for rnd in range(ctx.settings.runs):
            for server in (EDGE, LOCAL) if rnd % 2 == 0 else (LOCAL, EDGE):
                if errors[server]:
                    _skip(ctx, server, rnd, errors[server])
                else:
                    sample(ctx, CASE, server, OURS, urls[server], rnd, warm=rnd == 0)
    finally:
        local.stop()


def _start(local: Proc) -> str | None:
    try:
        local.start()
    except (RuntimeError, TimeoutError, OSError) as exc:
        return f"did not start: {exc}"
    return check(local.port)


def _up(ctx: Context) -> str | None:
    ctx.progress.say("cluster: up as shipped (compose.yaml)")
    up = compose(ctx, "up", "-d", "--wait", "--wait-timeout", "180")
    return f"up failed: {up.stderr.strip()[-200:]}" if up.returncode else None


def check(port: int) -> str | None:
    """The library's index.html, byte for byte, or why not."""
    try:
        status, body, _ = get(port, PATH)
    except OSError as exc:
        return f"check failed: {exc}"
    if status != 200 or body != (LIBRARY / "index.html").read_bytes():
        return f"check failed: status {status}, {len(body)} bytes"
    return None


def _skip(ctx: Context, server: str, rnd: int, error: str) -> None:
    ctx.results.figure(SUITE, CASE, server, OURS, "req/s").notes.append(error)
    ctx.progress.step(f"cluster {CASE} {server} {rnd + 1}/{ctx.settings.runs}: skipped: {error}")
