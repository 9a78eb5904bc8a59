"""`--baseline REF`: our models as of another commit, measured in the same run as this tree.

A change to the hot path is judged by wrk ratios taken side by side, alternating within each
round (issue 16: "the hot path costs no more than before"), not by two runs minutes apart on a
machine whose speed moves. The commit is checked out with `git worktree add --detach` into the
run's temporary folder and removed at the end; its servers start from that tree (their own
`server` package and `bench/apps`), named `MODEL@REF`, of kind `baseline` so that no target
counts them.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

from .procs import ROOT
from .results import BASELINE


@dataclass(frozen=True)
class Baseline:
    ref: str  # the short commit id, as the report names it
    tree: Path


def _git(*args: str) -> str:
    done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"bench: git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


def check_out(ref: str, work: Path) -> Baseline:
    """A detached worktree of `ref` inside the run's temporary folder."""
    short = _git("rev-parse", "--short", f"{ref}^{{commit}}")
    tree = work / f"baseline-{short}"
    _git("worktree", "add", "--detach", str(tree), short)
    return Baseline(short, tree)


def remove(baseline: Baseline | None) -> None:
    if baseline is not None:
        _git("worktree", "remove", "--force", str(baseline.tree))


def with_baseline(specs: list, baseline: Baseline | None) -> list:
    """`specs`, and after them each of ours again, started from the baseline's tree."""
    if baseline is None:
        return specs
    copies = [
        replace(
            spec,
            name=f"{spec.name}@{baseline.ref}",
            kind=BASELINE,
            detail=f"{spec.detail}, at {baseline.ref}",
            root=baseline.tree,
        )
        for spec in specs
        if spec.ours
    ]
    return [*specs, *copies]
