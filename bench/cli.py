"""`python -m bench [--quick] [--suites ...] [--servers ...] [--publish]` (usually via bench/run).

Runs the suites, then writes results.json, results.md and the PNG charts into the results
folder, prints every target's ratio with PASS/MISS, and with --publish copies the Markdown and
charts to docs/ (docs/benchmarks.md, docs/benchmarks/*.png).
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import time
from dataclasses import replace
from pathlib import Path

from . import baseline, c10k, cluster, ftpbench, httpbench, machine, report
from .context import Context, Progress, make_work_dir, write_ftp_files, write_static
from .procs import ROOT, raise_nofile
from .results import Results
from .settings import FULL, QUICK, SUITES, Settings

RUNNERS = {"http": httpbench.run, "ftp": ftpbench.run, "c10k": c10k.run, "cluster": cluster.run}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="the development mode (< 2 minutes)")
    p.add_argument("--suites", help=f"comma-separated subset of {','.join(SUITES)}")
    p.add_argument("--servers", help="comma-separated server names (models, peers) only")
    p.add_argument("--runs", type=int, help="samples per figure (median of these)")
    p.add_argument("--duration", type=float, help="seconds of load per HTTP sample")
    p.add_argument("--out", type=Path, help="results folder (default bench/results/STAMP)")
    p.add_argument("--publish", action="store_true", help="copy the results to docs/")
    p.add_argument("--report", type=Path, metavar="JSON", help="only re-render a results.json")
    p.add_argument("--note", help="a caveat printed with the results (e.g. the machine's load)")
    p.add_argument("--baseline", metavar="REF", help="also run our models as of this commit")
    return p.parse_args(argv)


def settings_from(args: argparse.Namespace) -> Settings:
    s = QUICK if args.quick else FULL
    if args.suites:
        unknown = set(args.suites.split(",")) - set(SUITES)
        if unknown:
            raise SystemExit(f"bench: unknown suite(s) {', '.join(sorted(unknown))}")
        s = replace(s, suites=tuple(args.suites.split(",")))
    if args.servers:
        s = replace(s, only=tuple(args.servers.split(",")))
    if args.runs:
        s = replace(s, runs=args.runs)
    if args.duration:
        s = replace(s, duration=args.duration)
    return s


def _terminated(signum, frame):
    raise KeyboardInterrupt  # so that every server started is stopped on the way out


def main(argv=None) -> int:
    signal.signal(signal.SIGTERM, _terminated)
    args = parse_args(argv)
    if args.report:
        results = Results.load(args.report)
        if args.note:
            results.meta["note"] = args.note
        return finish(results, args.report.parent, args.publish)
    settings = settings_from(args)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = args.out or ROOT / "bench" / "results" / f"{stamp}-{settings.mode}"
    out.mkdir(parents=True, exist_ok=True)
    ctx = Context(settings, out, make_work_dir(), progress=Progress())
    ctx.results.meta = {**machine.describe(), "mode": settings.mode, "settings": vars(settings)}
    if args.baseline:
        ctx.baseline = baseline.check_out(args.baseline, ctx.work)
        ctx.results.meta["baseline"] = ctx.baseline.ref
    if args.note:
        ctx.results.meta["note"] = args.note
    print(f"bench: {settings.mode} mode, results in {out}", file=sys.stderr)
    try:
        run_suites(ctx)
    except KeyboardInterrupt:
        print("bench: interrupted; writing what was measured", file=sys.stderr)
    finally:
        baseline.remove(ctx.baseline)
        shutil.rmtree(ctx.work, ignore_errors=True)
        ctx.results.meta["elapsed_s"] = round(time.monotonic() - ctx.progress.start)
        ctx.results.meta["load_after"] = machine.load()
        ctx.results.save(out / "results.json")
    return finish(ctx.results, out, args.publish)


def run_suites(ctx: Context) -> None:
    raise_nofile()
    write_static(ctx)
    if "ftp" in ctx.settings.suites:
        write_ftp_files(ctx)
    for suite in ctx.settings.suites:
        ctx.progress.say(f"-- {suite} --")
        RUNNERS[suite](ctx)


def finish(results: Results, out: Path, publish: bool) -> int:
    """Render the Markdown and charts, print the targets, publish when asked."""
    charts = report.charts(results, out)
    markdown = report.markdown(results, [p.name for p in charts])
    (out / "results.md").write_text(markdown)
    print(report.target_lines(results))
    print(f"bench: wrote {out / 'results.md'} and {len(charts)} chart(s)", file=sys.stderr)
    if publish:
        report.publish(results, out, charts)
    return 0
