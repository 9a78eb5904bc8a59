"""The run's outputs: results.md, the charts, the targets on stdout, docs/benchmarks.md."""

from __future__ import annotations

import shutil
from pathlib import Path

from . import charts as charts_mod
from . import fairness
from .procs import ROOT
from .results import Results
from .tables import header, sections, targets_section
from .targets import all_targets

DOCS = ROOT / "docs"
DOCS_CHARTS = DOCS / "benchmarks"
METHOD = Path(__file__).with_name("METHOD.md")


def charts(results: Results, out: Path) -> list[Path]:
    return charts_mod.render(results, out)


def markdown(results: Results, chart_names: list[str], prefix: str = "") -> str:
    parts = [header(results), "## Targets in this run", targets_section(results)]
    for title, body in sections(results):
        parts += [f"## {title}", body]
    if results.meta.get("fairness"):
        parts += ["## Requests per worker, hello-world (prefork)", fairness.section(results)]
    if chart_names:
        parts.append("## Charts")
        parts += [f"![{Path(n).stem}]({prefix}{n})" for n in chart_names]
    return "\n\n".join(parts) + "\n"


def target_lines(results: Results) -> str:
    lines = ["", "Targets (this run, ratios between servers measured side by side):"]
    for t in all_targets(results):
        lines.append(f"  {t.verdict:<4}  {t.name}: {t.measured()} (wanted {t.wanted()})"
                     f"  [{t.detail}]")  # fmt: skip
    return "\n".join(lines)


def publish(results: Results, out: Path, chart_paths: list[Path]) -> None:
    """docs/benchmarks.md: how to run and what is measured (METHOD.md), then these results."""
    DOCS_CHARTS.mkdir(parents=True, exist_ok=True)
    for old in DOCS_CHARTS.glob("*.png"):
        old.unlink()
    for path in chart_paths:
        shutil.copy2(path, DOCS_CHARTS / path.name)
    body = markdown(results, [p.name for p in chart_paths], prefix="benchmarks/")
    method = METHOD.read_text().strip()
    (DOCS / "benchmarks.md").write_text(f"{method}\n\n# Latest results\n\n{body}")
