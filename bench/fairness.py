"""Requests per worker: how evenly our prefork spreads wrk's load over its workers.

Our server counts every process's connections and requests in its own metric row anyway, and
`/-/workers` reads those rows (docs/http.md): one GET before and one after each measured wrk
run gives each worker's share of that run, at no cost to the requests measured. Recorded for
the hello-world case, for every spec of ours with prefork workers (shared socket, and each
worker on its own SO_REUSEPORT socket), in `results.meta["fairness"]`.
"""

from __future__ import annotations

import http.client
import json

from .results import Results, ratio
from .tables import num, table, times

CASE = "hello"
PATH = "/-/workers"
#: The compiled anchors the prefork variants are set against.
ANCHORS = ("granian", "bjoern")

Counts = dict[int, tuple[int, int]]  # pid -> (connections, requests) since it started


def snapshot(port: int) -> Counts | None:
    """Each worker's counts now; None if the server does not answer them (it is noted)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", PATH)
        resp = conn.getresponse()
        rows = json.loads(resp.read())["workers"] if resp.status == 200 else None
    except (OSError, http.client.HTTPException, ValueError, KeyError):
        return None
    finally:
        conn.close()
    if rows is None:
        return None
    return {row["pid"]: (row["connections"], row["requests"]) for row in rows}


def spread(before: Counts, after: Counts) -> list[list[int]]:
    """[connections, requests] per worker during the run, the busiest first (a worker
    replaced meanwhile is missing from one side: only those present in both count)."""
    rows = [
        [after[pid][0] - before[pid][0], after[pid][1] - before[pid][1]]
        for pid in after
        if pid in before
    ]
    return sorted(rows, key=lambda row: row[1], reverse=True)


def record(results: Results, server: str, rows: list[list[int]]) -> None:
    results.meta.setdefault("fairness", {}).setdefault(server, []).append(rows)


def section(results: Results) -> str:
    """The per-worker table, one row per server and round, then the anchors' ratios."""
    runs = results.meta.get("fairness", {})
    lines = []
    for server, rounds in runs.items():
        for number, rows in enumerate(rounds, 1):
            lines.append([server, number, *_round_cells(rows)])
    head = ["server", "round", "requests per worker (busiest first)", "shares"]
    head += ["busiest / idlest", "connections per worker"]
    parts = [table(head, lines)]
    if runs:
        parts.append(_anchor_table(results, list(runs)))
    return "\n\n".join(parts)


def _round_cells(rows: list[list[int]]) -> list[str]:
    requests = [row[1] for row in rows]
    total = sum(requests)
    shares = " / ".join(f"{100 * r / total:.1f}%" for r in requests) if total else "-"
    idlest = min(requests, default=0)
    uneven = times(requests[0] / idlest) if idlest else "-"
    conns = " / ".join(str(row[0]) for row in rows)
    return [" / ".join(num(r) for r in requests), shares, uneven, conns]


def _anchor_table(results: Results, servers: list[str]) -> str:
    anchors = [results.get("http", CASE, name) for name in ANCHORS]
    rows = []
    for server in servers:
        fig = results.get("http", CASE, server)
        rows.append([server, num(fig.median if fig else None)])
        rows[-1] += [times(ratio(fig, anchor)) for anchor in anchors]
    return table(["server", "req/s (median)", *(f"x {name}" for name in ANCHORS)], rows)
