"""What a run measured: figures (samples of one quantity, reported as their median), saved as JSON.

A figure is keyed by (suite, case, server). `kind` says whose server it is: `ours`, a `peer`
(the Python servers people use, plus vsftpd for FTP), a `compiled` anchor (WSGI servers written
in Rust or C: granian, bjoern), the `limit` (nginx) or a `baseline` (ours at another commit).
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path

OURS, PEER, COMPILED, LIMIT = "ours", "peer", "compiled", "limit"
BASELINE = "baseline"  # ours at another commit (bench/baseline.py)


@dataclass
class Figure:
    suite: str
    case: str
    server: str
    kind: str
    unit: str
    samples: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # errors seen while measuring
    higher_is_better: bool = True

    @property
    def median(self) -> float | None:
        return statistics.median(self.samples) if self.samples else None

    @property
    def spread(self) -> tuple[float, float] | None:
        return (min(self.samples), max(self.samples)) if self.samples else None


@dataclass
class Results:
    meta: dict = field(default_factory=dict)
    figures: list[Figure] = field(default_factory=list)

    def figure(self, suite: str, case: str, server: str, kind: str, unit: str, **kw) -> Figure:
        """The figure for (suite, case, server), created on first use."""
        found = self.get(suite, case, server)
        if found is None:
            found = Figure(suite, case, server, kind, unit, **kw)
            self.figures.append(found)
        return found

    def get(self, suite: str, case: str, server: str) -> Figure | None:
        for fig in self.figures:
            if (fig.suite, fig.case, fig.server) == (suite, case, server):
                return fig
        return None

    def case(self, suite: str, case: str) -> list[Figure]:
        return [f for f in self.figures if (f.suite, f.case) == (suite, case)]

    def cases(self, suite: str) -> list[str]:
        return list(dict.fromkeys(f.case for f in self.figures if f.suite == suite))

    def save(self, path: Path) -> None:
        data = {"meta": self.meta, "figures": [asdict(f) for f in self.figures]}
        path.write_text(json.dumps(data, indent=1))

    @classmethod
    def load(cls, path: Path) -> Results:
        data = json.loads(path.read_text())
        return cls(data["meta"], [Figure(**f) for f in data["figures"]])


def best(figures: list[Figure], kinds: tuple[str, ...]) -> Figure | None:
    """The figure with the best median among those of the given kinds."""
    found = [f for f in figures if f.kind in kinds and f.median is not None]
    if not found:
        return None
    pick = max if found[0].higher_is_better else min
    return pick(found, key=lambda f: f.median)


def ratio(fig: Figure | None, ref: Figure | None) -> float | None:
    """How many times better `fig` is than `ref` (> 1 is better, whichever way the unit goes)."""
    if fig is None or ref is None or not fig.median or not ref.median:
        return None
    return fig.median / ref.median if fig.higher_is_better else ref.median / fig.median
