"""Where our server spends its time under the benchmark's load: py-spy over wrk.

    bench/.venv/bin/python -m bench.profile --model epoll --case hello [--idle 10000]

Starts our HTTP server for the case, loads it with wrk while py-spy samples it (every process,
with --subprocesses), writes a flame graph (SVG) and the collapsed stacks into
bench/results/profile-*, and prints the functions with the most samples: by self time and
inclusive of callees. --idle N first opens N idle keep-alive connections (the C10K case).
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import c10k, httpbench, wrk
from .context import Context, write_static
from .procs import ROOT, Proc, free_port, raise_nofile
from .servers import Launch
from .settings import QUICK

TOP = 15


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.split("\n")[0])
    p.add_argument("--model", default="epoll")
    p.add_argument("--case", default="hello", choices=list(httpbench.CASES))
    p.add_argument("--seconds", type=int, default=10)
    p.add_argument("--idle", type=int, default=0, help="idle keep-alive connections held")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    raise_nofile()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = ROOT / "bench" / "results" / f"profile-{stamp}-{args.model}-{args.case}"
    out.mkdir(parents=True, exist_ok=True)
    ctx = Context(QUICK, out, Path(tempfile.mkdtemp(prefix="bench-")))
    write_static(ctx)
    spec = next(s for s in httpbench.specs() if s.name == args.model and s.ours)
    hold = ["--keepalive-timeout", "3600", "--timeout", "3600"]
    port = free_port()  # ours log at warning level: no start-up line tells the port
    argv = [*spec.argv(Launch(ctx, args.case, port)), *hold]
    with Proc(args.model, argv, out / "server.log", port=port) as proc:
        idle = c10k.open_idle(proc.port, args.idle) if args.idle else []
        try:
            rate = profile(ctx, proc, args, out)
        finally:
            for sock in idle:
                sock.close()
    print(f"\n{args.model} {args.case}: {rate:,.0f} req/s under py-spy ({len(idle)} idle held)")
    print(summary(out / "stacks.txt"))
    print(f"\nflame graph: {out / 'flame.svg'}", file=sys.stderr)
    return 0


def profile(ctx: Context, proc, args, out: Path) -> float:
    """wrk for --seconds while py-spy records the server; the rate wrk saw."""
    pyspy = ctx.tool("py-spy")
    common = ["-p", str(proc.proc.pid), "--subprocesses", "-d", str(args.seconds), "-r", "200"]
    spies = [
        subprocess.Popen(
            [pyspy, "record", *common, "-f", fmt, "-o", str(out / name)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for fmt, name in (("raw", "stacks.txt"), ("flamegraph", "flame.svg"))
    ]
    time.sleep(1)
    scheme, path = httpbench.url_scheme(args.case), httpbench.CASES[args.case]
    url = f"{scheme}://127.0.0.1:{proc.port}{path}"
    result = wrk.run(url, args.seconds - 2, 50, 2)
    for spy in spies:
        spy.wait(args.seconds + 60)
    return result.rate


def summary(stacks: Path) -> str:
    """The functions with the most samples, self and inclusive, in percent of all samples."""
    own: collections.Counter = collections.Counter()
    incl: collections.Counter = collections.Counter()
    total = 0
    for line in stacks.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [_short(f) for f in stack.split(";")[1:]]  # the first is the process
        n = int(count)
        total += n
        if frames:
            own[frames[-1]] += n
        for frame in set(frames):
            incl[frame] += n
    lines = [f"{total} samples; self time:"]
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in own.most_common(TOP)]
    lines.append("inclusive of callees (below the frames in every sample):")
    below_loop = [(f, n) for f, n in incl.most_common() if n < 0.99 * total][:TOP]
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in below_loop]
    return "\n".join(lines)


def _short(frame: str) -> str:
    """`handle (server/net/loop.py:123)` -> `handle (net/loop.py)` without the line number."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("/server/", "/lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{name} ({path})"


if __name__ == "__main__":
    sys.exit(main())
