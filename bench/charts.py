"""PNG charts (matplotlib from the benchmark's venv): throughput per server, C10K memory.

Ours are blue, the Python peers orange, the limit (nginx) grey; each bar is a median and its
whisker the min-max of the runs.
"""

from __future__ import annotations

from pathlib import Path

from .results import BASELINE, COMPILED, LIMIT, OURS, Figure, Results
from .tables import TITLES

COLORS = {OURS: "#1f77b4", BASELINE: "#9ecae1", COMPILED: "#2ca02c", LIMIT: "#7f7f7f"}
PEER_COLOR = "#ff7f0e"


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def render(results: Results, out: Path) -> list[Path]:
    """Every chart that has figures; none (and no error) without matplotlib."""
    plt = _pyplot()
    if plt is None:
        return []
    written = []
    for suite in ("http", "ftp"):
        cases = [c for c in results.cases(suite) if _measured(results.case(suite, c))]
        if cases:
            written.append(_suite_chart(plt, results, suite, cases, out / f"{suite}.png"))
    if results.get("c10k", "rss", "epoll") or results.get("c10k", "rss", "prefork"):
        written.append(_c10k_chart(plt, results, out / "c10k.png"))
    if _measured(results.case("cluster", "edge") + results.case("cluster", "scale")):
        written.append(_cluster_chart(plt, results, out / "cluster.png"))
    if results.meta.get("fairness"):
        written.append(_fairness_chart(plt, results.meta["fairness"], out / "fairness.png"))
    return written


def _measured(figures: list[Figure]) -> list[Figure]:
    return [f for f in figures if f.median is not None]


def _bars(ax, figures: list[Figure], title: str) -> None:
    figures = _measured(figures)
    names = [f.server for f in figures]
    values = [f.median for f in figures]
    low = [f.median - f.spread[0] for f in figures]
    high = [f.spread[1] - f.median for f in figures]
    colors = [COLORS.get(f.kind, PEER_COLOR) for f in figures]
    ax.barh(names, values, xerr=[low, high], color=colors, capsize=2)
    ax.invert_yaxis()
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(figures[0].unit if figures else "")
    for y, fig in enumerate(figures):
        ax.text(fig.spread[1], y, f"  {fig.median:,.0f}", va="center", fontsize=7)
    ax.grid(axis="x", alpha=0.3)


def _suite_chart(plt, results: Results, suite: str, cases: list[str], path: Path) -> Path:
    fig, axes = plt.subplots(1, len(cases), figsize=(5.2 * len(cases), 5), squeeze=False)
    for ax, case in zip(axes[0], cases, strict=True):
        _bars(ax, results.case(suite, case), TITLES.get((suite, case), case))
    fig.suptitle(_subtitle(results, suite), fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _subtitle(results: Results, suite: str) -> str:
    m = results.meta
    what = {
        "http": "HTTP throughput -- blue: ours, orange: Python peers, grey: nginx",
        "ftp": "FTP throughput -- blue: ours, orange: peers",
    }.get(suite, suite)
    when = f"{m.get('date', '')}, {m.get('cores', '?')} cores, {m.get('mode', '')} mode"
    return f"{what} -- median and min-max of the runs -- {when}"


def _c10k_chart(plt, results: Results, path: Path) -> Path:
    fig, (mem, rate) = plt.subplots(1, 2, figsize=(10, 4))
    names = [n for n in ("epoll", "prefork") if results.get("c10k", "rss", n)]
    _pairs(mem, results, names, {"rss-before": "before", "rss": "holding them"}, "{:.0f}")
    mem.axhline(100, color="red", linestyle="--", label="target: 100 MB (epoll)")
    mem.set_ylabel("RSS, MB (all processes)")
    held = results.meta.get("settings", {}).get("c10k", 0)
    mem.set_title(f"RSS holding {held:,} idle keep-alive connections", fontsize=10)
    mem.legend(fontsize=8)
    _pairs(rate, results, names, {"unloaded": "unloaded", "loaded": "with them held"}, "{:,.0f}")
    rate.set_ylabel("hello-world req/s")
    rate.set_title("hello-world rate, alone and while holding them", fontsize=10)
    rate.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _pairs(ax, results: Results, names: list[str], cases: dict[str, str], fmt: str) -> None:
    """Two bars per model (light: the first case, dark: the second), each labelled."""
    width = 0.38
    for i, (case, label) in enumerate(cases.items()):
        figures = [results.get("c10k", case, n) for n in names]
        if not any(f and f.median is not None for f in figures):
            continue  # not measured in this run (an older results.json)
        values = [_median(f) for f in figures]
        xs = [x + (i - 0.5) * width for x in range(len(names))]
        ax.bar(xs, values, width, label=label, color=["#9ecae1", COLORS[OURS]][i])
        for x, value in zip(xs, values, strict=True):
            ax.text(x, value, fmt.format(value), ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(names)), names)


def _median(fig: Figure | None) -> float:
    return fig.median if fig and fig.median is not None else 0.0


def _cluster_chart(plt, results: Results, path: Path) -> Path:
    """The edge (cluster against one local process) and the scale-out, req/s side by side."""
    titles = {
        "edge": "Edge: the cluster vs one local prefork",
        "scale": "Scale-out: CPU-bound /work",
    }
    cases = [c for c in titles if _measured(results.case("cluster", c))]
    fig, axes = plt.subplots(1, len(cases), figsize=(5.5 * len(cases), 3.5), squeeze=False)
    for ax, case in zip(axes[0], cases, strict=True):
        _bars(ax, results.case("cluster", case), titles[case])
    fig.suptitle("Compose cluster -- median and min-max of the runs", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _fairness_chart(plt, runs: dict[str, list], path: Path) -> Path:
    """One bar per server and round, split into its workers' shares of the requests."""
    labels, shares = [], []
    for server, rounds in runs.items():
        for number, rows in enumerate(rounds, 1):
            total = sum(requests for _, requests in rows) or 1
            labels.append(f"{server} #{number}")
            shares.append([100 * requests / total for _, requests in rows])
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(labels) + 1.5))
    for y, parts in enumerate(shares):
        left = 0.0
        for i, share in enumerate(parts):
            ax.barh(y, share, left=left, color=["#1f77b4", "#9ecae1"][i % 2], edgecolor="white")
            ax.text(left + share / 2, y, f"{share:.1f}%", ha="center", va="center", fontsize=7)
            left += share
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.axvline(50, color="grey", linestyle="--", linewidth=0.8)
    ax.set_xlabel("share of the round's requests, per worker (busiest first), %")
    ax.set_title("hello-world: requests per prefork worker", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
