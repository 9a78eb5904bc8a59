"""What the cluster suite's two cases share: the compose project and wrk samples with latency.

Each wrk sample of a case becomes five figures of one server: the rate (case `edge`), its p50
and p99 latency (`edge-p50`, `edge-p99`, ms), and its timeouts and other errors (`edge-timeouts`,
`edge-errors`, counted per round and summed over the rounds in the report).
"""

from __future__ import annotations

import http.client
import subprocess
from pathlib import Path

from . import wrk
from .context import Context
from .procs import ROOT
from .results import Figure, Results

SUITE = "cluster"
PROJECT = "bench-cluster"
PORT = 8080  # nginx, published on 127.0.0.1
# figure case suffix -> (unit, higher is better)
METRICS = {
    "": ("req/s", True),
    "-p50": ("ms", False),
    "-p99": ("ms", False),
    "-timeouts": ("timeouts", False),
    "-errors": ("errors", False),
}


def compose(ctx: Context, *args: str, override: Path | None = None, timeout: float = 600):
    """`docker compose` on compose.yaml (and an override file) under the benchmark's project."""
    files = ["-f", str(ROOT / "compose.yaml")]
    if override:
        files += ["-f", str(override)]
    argv = ["docker", "compose", "-p", PROJECT, *files, *args]
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def get(port: int, path: str) -> tuple[int, bytes, dict[str, str]]:
    """One GET on a fresh connection to 127.0.0.1: (status, body, headers); raises OSError."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read(), dict(resp.getheaders())
    except http.client.HTTPException as exc:
        raise OSError(f"GET {path}: {exc!r}") from exc
    finally:
        conn.close()


def record(results: Results, case: str, server: str, kind: str, result: wrk.WrkResult) -> None:
    """One wrk sample into the case's five figures for this server."""
    timeouts = result.errors.get("timeout", 0)
    values = {
        "": result.rate,
        "-p50": result.p50_ms,
        "-p99": result.p99_ms,
        "-timeouts": timeouts,
        "-errors": sum(result.errors.values()) - timeouts,
    }
    for suffix, value in values.items():
        unit, higher = METRICS[suffix]
        fig = results.figure(SUITE, case + suffix, server, kind, unit, higher_is_better=higher)
        if value is not None:
            fig.samples.append(value)


def total(fig: Figure | None) -> float | None:
    """A count figure's sum over the rounds (timeouts, errors); None if never measured."""
    return sum(fig.samples) if fig and fig.samples else None


def sample(ctx: Context, case: str, server: str, kind: str, url: str, rnd: int, warm: bool):
    """One wrk sample of `server` at `url` recorded for `case` (after a warm-up if `warm`)."""
    s = ctx.settings
    fig = ctx.results.figure(SUITE, case, server, kind, "req/s")
    label = f"cluster {case} {server} {rnd + 1}/{s.runs}"
    try:
        if warm and s.warmup:
            wrk.run(url, s.warmup, s.cluster_connections, s.wrk_threads)
        result = wrk.run(url, s.duration, s.cluster_connections, s.wrk_threads)
    except (ValueError, OSError, subprocess.SubprocessError) as exc:
        fig.notes.append(f"round {rnd + 1}: wrk failed: {exc}")
        ctx.progress.step(f"{label}: wrk failed: {exc}")
        return
    record(ctx.results, case, server, kind, result)
    if result.errors:
        fig.notes.append(f"round {rnd + 1}: {result.error_note()}")
    latency = f"p50 {_ms(result.p50_ms)}, p99 {_ms(result.p99_ms)}"
    ctx.progress.step(f"{label}: {result.rate:,.0f} req/s, {latency} {result.error_note()}")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f} ms"
