"""The issue's targets, checked against one run's figures: measured value, threshold, verdict.

A target whose figures are missing (a suite not run, a server that did not start) is N/A,
never PASS.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import cluster_edge, cluster_scale
from .cluster_base import SUITE as CLUSTER
from .cluster_base import total
from .results import OURS, PEER, Figure, Results, best, ratio


@dataclass
class Target:
    name: str
    threshold: float
    value: float | None
    detail: str
    at_most: bool = False  # the value must be <= threshold (memory), not >=
    unit: str = "x"

    @property
    def verdict(self) -> str:
        if self.value is None:
            return "N/A"
        ok = self.value <= self.threshold if self.at_most else self.value >= self.threshold
        return "PASS" if ok else "MISS"

    def measured(self) -> str:
        return "-" if self.value is None else _fmt(self.value, self.unit)

    def wanted(self) -> str:
        return ("<= " if self.at_most else ">= ") + _fmt(self.threshold, self.unit)


def _fmt(value: float, unit: str) -> str:
    return f"{value:.2f}x" if unit == "x" else f"{value:,.1f} {unit}"


def _vs(results: Results, suite: str, case: str, name: str, ref: Figure | None, need: float):
    """Target: our fastest model for this case against the reference figure."""
    ours = best(results.case(suite, case), (OURS,))
    value = ratio(ours, ref)
    detail = f"{_who(ours)} vs {_who(ref)}"
    return Target(name, need, value, detail)


def _who(fig: Figure | None) -> str:
    if fig is None or fig.median is None:
        return "(not measured)"
    return f"{fig.server} {fig.median:,.0f} {fig.unit}"


def _peer(results: Results, suite: str, case: str, server: str | None = None) -> Figure | None:
    figures = results.case(suite, case)
    if server:
        return next((f for f in figures if f.server == server and f.median), None)
    return best(figures, (PEER,))


def http_ftp_targets(results: Results) -> list[Target]:
    return [
        _vs(
            results,
            "http",
            "hello",
            "HTTP hello-world: fastest model / best Python peer",
            _peer(results, "http", "hello"),
            1.3,
        ),
        _vs(
            results,
            "http",
            "hello",
            "HTTP hello-world: fastest model / granian (Rust)",
            _peer(results, "http", "hello", "granian"),
            1.0,
        ),
        _vs(
            results,
            "http",
            "hello",
            "HTTP hello-world: fastest model / bjoern (C)",
            _peer(results, "http", "hello", "bjoern"),
            0.5,
        ),
        _vs(
            results,
            "http",
            "static-1k",
            "HTTP static 1 KiB: fastest model / nginx",
            _peer(results, "http", "static-1k", "nginx"),
            0.5,
        ),
        _vs(
            results,
            "http",
            "hello-tls",
            "HTTPS hello-world: fastest model / best Python peer (gunicorn --certfile)",
            _peer(results, "http", "hello-tls"),
            1.3,
        ),
        _vs(
            results,
            "ftp",
            "retr",
            "FTP RETR: fastest model / vsftpd",
            _peer(results, "ftp", "retr", "vsftpd"),
            0.8,
        ),
        _vs(
            results,
            "ftp",
            "retr-tls",
            "FTPS RETR: fastest model / vsftpd (ssl_enable)",
            _peer(results, "ftp", "retr-tls", "vsftpd"),
            0.8,
        ),
        _vs(
            results,
            "ftp",
            "sessions",
            "FTP short sessions: fastest model / pyftpdlib",
            _peer(results, "ftp", "sessions", "pyftpdlib"),
            1.0,
        ),
    ]


def c10k_targets(results: Results) -> list[Target]:
    wanted = results.meta.get("settings", {}).get("c10k", 10_000)
    held = results.get("c10k", "held", "epoll")
    rss = results.get("c10k", "rss", "epoll")
    loaded = results.get("c10k", "loaded", "epoll")
    unloaded = results.get("c10k", "unloaded", "epoll")
    kept = held.median if held and held.median is not None else None
    return [
        Target(
            f"C10K epoll: connections held (of {wanted:,})",
            wanted,
            kept,
            "idle keep-alive connections open at the end",
            unit="conns",
        ),
        Target(
            "C10K epoll: RSS holding them",
            100.0,
            rss.median if rss else None,
            "server process RSS",
            at_most=True,
            unit="MB",
        ),
        Target(
            "C10K epoll: hello-world rate loaded / unloaded",
            0.5,
            ratio(loaded, unloaded),
            f"{_who(loaded)} vs {_who(unloaded)}",
        ),
    ]


def cluster_targets(results: Results) -> list[Target]:
    conns = results.meta.get("settings", {}).get("cluster_connections", 64)
    get = lambda case, server: results.get(CLUSTER, case, server)  # noqa: E731
    edge, local = get("edge", cluster_edge.EDGE), get("edge", cluster_edge.LOCAL)
    p99 = get("edge-p99", cluster_edge.EDGE)
    one, two = (get("scale", cluster_scale.server_name(n)) for n in (1, 2))
    return [
        Target(
            "Cluster edge: nginx + 4 replicas / one local prefork (2 workers)",
            0.5,
            ratio(edge, local),
            f"{_who(edge)} vs {_who(local)}, GET {cluster_edge.PATH}",
        ),
        Target(
            f"Cluster edge: p99 latency at {conns} connections",
            50.0,
            p99.median if p99 else None,
            "median of the rounds' p99",
            at_most=True,
            unit="ms",
        ),
        Target(
            "Cluster edge: wrk timeouts",
            0,
            total(get("edge-timeouts", cluster_edge.EDGE)),
            "summed over the rounds",
            at_most=True,
            unit="timeouts",
        ),
        Target(
            "Cluster scale-out: 2 replicas / 1 replica (CPU-bound)",
            1.7,
            ratio(two, one),
            f"{_who(two)} vs {_who(one)}",
        ),
    ]


def all_targets(results: Results) -> list[Target]:
    return http_ftp_targets(results) + c10k_targets(results) + cluster_targets(results)
