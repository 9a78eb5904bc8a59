"""The scale-out case: one service scaled to 1, 2, 4 replicas, each held to a CPU quota.

An override file in the run's temporary folder changes three things: nginx's HTTP upstream
becomes the one service `http-prefork` (so the replicas are alike and their count is the only
thing that changes), each of its replicas gets a CPU quota of CPUS, and it serves the
handler folder bench/apps/cpu_handlers, whose /work does a fixed few ms of pure-Python work per
request. So the replicas are the bottleneck, not nginx, Docker's proxy or wrk. The count goes
1, 2, 4, then back (alternating rounds); nginx's entrypoint renders one `server` line per
replica address within its watch interval (3 s) and reloads, which is awaited before measuring.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from .cluster_base import PORT, SUITE, compose, get, sample
from .context import Context
from .procs import ROOT
from .results import OURS

CASE = "scale"
SERVICE = "http-prefork"
CPUS = 0.45  # per replica: below half the machine's 2 cores, so 2 replicas can double
PATH = "/work"
HANDLERS = ROOT / "bench" / "apps" / "cpu_handlers"
UPSTREAM = re.compile(r"(upstream http_replicas \{.*?\n)((?:\s*server [^\n]*\n)+)", re.S)
LIVE_CONF = "/etc/nginx/live/http.conf"  # the entrypoint's rendering, with addresses


def server_name(n: int) -> str:
    return f"{n} replica" + ("s" if n > 1 else "")


def write_override(ctx: Context) -> str | None:
    """The override file (and nginx's http.conf with the one upstream); an error, or None."""
    try:
        conf = (ROOT / "nginx" / "http.conf").read_text()
    except OSError as exc:
        return f"no nginx/http.conf: {exc}"
    line = f"    server {SERVICE}:{PORT} max_fails=1 fail_timeout=5s;\n"
    new, found = UPSTREAM.subn(lambda m: m.group(1) + line, conf, count=1)
    if not found:
        return "nginx/http.conf has no `upstream http_replicas` block to scale"
    (ctx.work / "cluster-http.conf").write_text(new)
    (ctx.work / "cluster-override.yaml").write_text(
        "services:\n"
        "  nginx:\n"
        f"    volumes: ['{ctx.work / 'cluster-http.conf'}:/etc/nginx/cluster/http.conf:ro']\n"
        f"  {SERVICE}:\n"
        f"    environment: {{ SERVER_HANDLERS: /srv/handlers }}\n"
        f"    volumes: ['{HANDLERS}:/srv/handlers:ro']\n"
        f"    deploy: {{ resources: {{ limits: {{ cpus: '{CPUS}' }} }} }}\n"
    )
    return None


def run(ctx: Context, error: str | None) -> None:
    """Every replica count in every round (or `error` noted for each)."""
    counts, runs = ctx.settings.replicas, ctx.settings.runs
    detail = f"{SERVICE}, {CPUS} CPU each, GET {PATH} (bench/apps/cpu_handlers)"
    ctx.results.meta.setdefault("servers", {}).update({server_name(n): detail for n in counts})
    error = error or write_override(ctx)
    current = 0
    for rnd in range(runs):
        for n in counts if rnd % 2 == 0 else tuple(reversed(counts)):
            changed = n != current
            if error is None and changed:
                error, current = scale(ctx, n), n
            if error:
                ctx.results.figure(SUITE, CASE, server_name(n), OURS, "req/s").notes.append(error)
                ctx.progress.step(f"cluster {CASE} {server_name(n)} {rnd + 1}/{runs}: skipped")
                continue
            url = f"http://127.0.0.1:{PORT}{PATH}"
            sample(ctx, CASE, server_name(n), OURS, url, rnd, warm=changed)


def scale(ctx: Context, n: int) -> str | None:
    """N replicas up and healthy, nginx balancing over all N; an error, or None."""
    ctx.progress.say(f"cluster: scaling {SERVICE} to {n}")
    override = ctx.work / "cluster-override.yaml"
    up = compose(
        ctx, "up", "-d", "--wait", "--wait-timeout", "180", "--scale", f"{SERVICE}={n}",
        override=override,
    )  # fmt: skip
    if up.returncode:
        return f"up failed: {up.stderr.strip()[-200:]}"
    deadline = time.monotonic() + 60
    rendered = seen = 0
    while time.monotonic() < deadline:
        rendered = rendered_addresses(ctx, override)
        seen = len(replicas_seen(4 * n)) if rendered == n else 0
        if seen >= n:
            time.sleep(2)  # the reload's old workers finish their connections
            return None
        time.sleep(1)
    return f"nginx rendered {rendered} and reached {seen} of {n} replicas in 60 s"


def rendered_addresses(ctx: Context, override: Path) -> int:
    """How many live `server` lines nginx's rendered http.conf has (its upstream's size)."""
    shown = compose(ctx, "exec", "-T", "nginx", "cat", LIVE_CONF, override=override, timeout=30)
    lines = re.findall(r"^\s*server \d+\.\d+\.\d+\.\d+:\d+ [^\n]*$", shown.stdout, re.M)
    return sum(1 for line in lines if " down;" not in line)


def replicas_seen(requests: int) -> set[str]:
    """The replica addresses nginx names (X-Upstream-Addr) over fresh connections."""
    seen = set()
    for _ in range(requests):
        try:
            status, _, headers = get(PORT, "/index.html")
        except OSError:
            continue
        if status == 200:
            seen.add(headers.get("X-Upstream-Addr", "").split(",")[-1].strip())
    return seen
