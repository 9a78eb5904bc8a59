"""Markdown: the run's header, the targets, one table per case, the C10K and cluster tables."""

from __future__ import annotations

from . import cluster_edge, cluster_scale
from .cluster_base import SUITE as CLUSTER
from .cluster_base import total
from .results import COMPILED, LIMIT, OURS, PEER, Figure, Results, best, ratio
from .targets import all_targets

TITLES = {
    ("http", "hello"): "HTTP hello-world WSGI, keep-alive",
    ("http", "static-1k"): "HTTP static file, 1 KiB, keep-alive",
    ("http", "static-1m"): "HTTP static file, 1 MiB, keep-alive",
    ("http", "hello-tls"): "HTTPS hello-world WSGI, keep-alive (TLS 1.3, ECDSA P-256)",
    ("ftp", "retr"): "FTP RETR of one big file",
    ("ftp", "sessions"): "FTP short sessions (login, PASV, RETR 1 KiB, QUIT)",
    ("ftp", "retr-tls"): "FTPS RETR of one big file (AUTH TLS, PROT P, TLS required)",
    ("cluster", "edge"): "Cluster edge: nginx + 4 replicas against one local prefork process, "
    "GET /index.html",
    ("cluster", "scale"): "Cluster scale-out: CPU-bound GET /work, 1, 2, 4 replicas",
}


def row(cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def table(header: list[str], rows: list[list]) -> str:
    lines = [row(header), row(["---"] * len(header)), *(row(r) for r in rows)]
    return "\n".join(lines)


def num(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def times(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def notes(fig: Figure, limit: int = 140) -> str:
    text = "; ".join(dict.fromkeys(fig.notes)).replace("|", "/")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def header(results: Results) -> str:
    m, s = results.meta, results.meta.get("settings", {})
    v = m.get("versions", {})
    peers = ", ".join(f"{k} {val}" for k, val in v.items())
    return "\n\n".join([
        f"Measured {m.get('date', '?')} on {m.get('cpu', '?')}, {m.get('cores', '?')} cores, "
        f"{m.get('memory_gib', '?')} GiB, Linux {m.get('kernel', '?')}, "
        f"Python {m.get('python', '?')}, commit {m.get('commit', '?')}.",
        f"Mode **{m.get('mode', '?')}**: median of {s.get('runs', '?')} run(s) per figure, "
        f"servers alternating; wrk {s.get('duration', '?')} s x {s.get('connections', '?')} "
        f"connections x {s.get('wrk_threads', '?')} threads{_cluster_conns(results)}; "
        f"the whole run took "
        f"{num(m.get('elapsed_s', 0) / 60, 1)} min. "
        f"Load average before {m.get('load_before', '?')}, after {m.get('load_after', '?')}.",
        f"Versions: {peers}.",
        *([f"**Note:** {m['note']}"] if m.get("note") else []),
    ])  # fmt: skip


def _cluster_conns(results: Results) -> str:
    if not any(f.suite == CLUSTER for f in results.figures):
        return ""
    conns = results.meta.get("settings", {}).get("cluster_connections", "?")
    return f" ({conns} connections in the cluster suite)"


def targets_section(results: Results) -> str:
    rows = [
        [t.name, t.measured(), t.wanted(), f"**{t.verdict}**", t.detail]
        for t in all_targets(results)
    ]
    return table(["target", "measured", "wanted", "result", "figures"], rows)


def case_table(results: Results, suite: str, case: str) -> str:
    figures = results.case(suite, case)
    peer = best(figures, (PEER,))
    refs = [f for f in (best(figures, (COMPILED,)), best(figures, (LIMIT,))) if f]
    details = {**results.meta.get("servers", {}), **results.meta.get("ftp_servers", {})}
    unit = figures[0].unit if figures else ""
    head = ["server", "kind", "configuration", unit, "min-max", f"x best peer ({_name(peer)})"]
    head += [f"x {ref.server}" for ref in refs]
    rows = []
    for fig in figures:
        spread = fig.spread
        cells = [fig.server, fig.kind, details.get(fig.server, ""), num(fig.median)]
        cells += [f"{num(spread[0])}-{num(spread[1])}" if spread else "-"]
        cells += [times(ratio(fig, ref)) for ref in (peer, *refs)]
        rows.append([*cells, notes(fig)])
    return table([*head, "notes"], rows)


def _name(fig: Figure | None) -> str:
    return fig.server if fig else "none measured"


def c10k_table(results: Results) -> str:
    servers = list(dict.fromkeys(f.server for f in results.figures if f.suite == "c10k"))
    rows = []
    for name in servers:
        get = lambda case, n=name: results.get("c10k", case, n)  # noqa: E731
        loaded, unloaded = get("loaded"), get("unloaded")
        cells = [name]
        medians = {c: get(c).median if get(c) else None for c in ("held", "rss-before", "rss")}
        cells += [num(medians[c]) for c in ("held", "rss-before", "rss")]
        cells += [num(get("pss").median if get("pss") else None), _per_conn(medians)]
        cells += [num(unloaded.median if unloaded else None)]
        cells += [num(loaded.median if loaded else None), times(ratio(loaded, unloaded))]
        mine = [f for f in results.figures if f.suite == "c10k" and f.server == name]
        notes_ = "; ".join(notes(f) for f in mine if f.notes)
        rows.append([*cells, notes_])
    head = ["model", "connections held", "RSS MB before", "RSS MB holding", "PSS MB holding"]
    head += ["KB per connection", "req/s unloaded", "req/s loaded", "loaded / unloaded", "notes"]
    return table(head, rows)


def _per_conn(medians: dict) -> str:
    """What each held connection costs: (RSS holding - RSS before) / held, in KB."""
    held, before, holding = medians["held"], medians["rss-before"], medians["rss"]
    if not held or before is None or holding is None:
        return "-"
    return num((holding - before) * 1000 / held, 1)


def cluster_table(results: Results, case: str, base: str) -> str:
    """Rate, latency and errors per server of a cluster case; ratios against `base`."""
    details = results.meta.get("servers", {})
    ref = results.get(CLUSTER, case, base)
    rows = []
    for fig in results.case(CLUSTER, case):
        get = lambda metric, f=fig: results.get(CLUSTER, case + metric, f.server)  # noqa: E731
        spread = fig.spread
        cells = [fig.server, details.get(fig.server, ""), num(fig.median)]
        cells += [f"{num(spread[0])}-{num(spread[1])}" if spread else "-", times(ratio(fig, ref))]
        cells += [num(_median(get("-p50")), 1), num(_median(get("-p99")), 1)]
        cells += [num(total(get("-timeouts"))), num(total(get("-errors"))), notes(fig)]
        rows.append(cells)
    head = ["server", "configuration", "req/s", "min-max", f"x {base}", "p50 ms", "p99 ms"]
    return table([*head, "timeouts", "other errors", "notes"], rows)


def baseline_table(results: Results, ref: str) -> str:
    """Each of our figures against the same model at the baseline commit, case by case."""
    rows = []
    for fig in results.figures:
        then = results.get(fig.suite, fig.case, f"{fig.server}@{ref}")
        if fig.kind == OURS and then is not None:
            title = f"{fig.suite} {fig.case}"
            cells = [title, fig.server, num(fig.median), num(then.median), times(ratio(fig, then))]
            rows.append([*cells, fig.unit])
    return table(["case", "model", "this tree", ref, "this tree / " + ref, "unit"], rows)


def _median(fig: Figure | None) -> float | None:
    return fig.median if fig else None


def sections(results: Results) -> list[tuple[str, str]]:
    """(title, table) for every case that was measured, in a stable order."""
    out = []
    for suite in ("http", "ftp"):
        for case in results.cases(suite):
            out.append((TITLES.get((suite, case), f"{suite} {case}"), case_table(
                results, suite, case)))  # fmt: skip
    ref = results.meta.get("baseline")
    if ref:
        out.append((f"This tree against {ref} (--baseline)", baseline_table(results, ref)))
    if any(f.suite == "c10k" for f in results.figures):
        out.append(("C10K: idle keep-alive connections held", c10k_table(results)))
    bases = {
        cluster_edge.CASE: cluster_edge.LOCAL,
        cluster_scale.CASE: cluster_scale.server_name(1),
    }
    for case, base in bases.items():
        if results.case(CLUSTER, case):
            out.append((TITLES[(CLUSTER, case)], cluster_table(results, case, base)))
    return out


__all__ = ["OURS", "header", "sections", "table", "targets_section"]
