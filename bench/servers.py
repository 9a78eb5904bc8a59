"""Servers under test: ours (every model) and the peers, as command lines, and how to start one.

A `Spec` turns a `Launch` (which case, which port, which passive ports) into a command line.
Every server gets a free loopback port picked here, and ours log at warning level: the peers
write no line per request or transfer (gunicorn, waitress, pyftpdlib, vsftpd as configured
here), so neither do ours -- an info-level start-up line would tell the port, but a line per
FTP transfer would then be logged too.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from server.models import MODELS as SERVER_MODELS

from .context import Context
from .procs import ROOT, Proc, free_port
from .results import OURS
from .settings import CORES

MODELS = list(SERVER_MODELS)  # every model the server registers


@dataclass(frozen=True)
class Launch:
    ctx: Context
    case: str
    port: int
    pasv: tuple[int, int] = (0, 0)


@dataclass(frozen=True)
class Spec:
    name: str
    kind: str
    detail: str  # how it is configured, for the report
    argv: Callable[[Launch], list[str]] = field(compare=False)
    root: Path = ROOT  # the source tree it starts from (another one for a baseline)
    #: Ours with prefork workers: /-/workers tells how the load spread over them.
    workers: bool = False

    @property
    def ours(self) -> bool:
        return self.kind == OURS


def model_flags(model: str) -> list[str]:
    """Our models with their defaults, except prefork's workers: one per core, said aloud."""
    return ["--workers", str(CORES)] if model == "prefork" else []


def model_detail(model: str) -> str:
    return f"{CORES} workers x epoll" if model == "prefork" else "defaults"


#: Our models with a flag that changes how they serve, measured as servers of their own:
#: name -> (model, flags, configuration).
VARIANTS = {
    "prefork-reuseport": (
        "prefork",
        ["--reuse-port"],
        f"{CORES} workers x epoll, each on its own SO_REUSEPORT socket",
    ),
    "prefork-affinity": (
        "prefork",
        ["--reuse-port", "--cpu-affinity"],
        f"{CORES} workers x epoll, each pinned to a CPU, taking the connections made on it",
    ),
}


def variant(service: str, name: str, flags: Callable[[Launch], list[str]]) -> Spec:
    model, extra, detail = VARIANTS[name]
    spec = ours(service, model, lambda launch: [*extra, *flags(launch)])
    return replace(spec, name=name, detail=detail)


def ours(service: str, model: str, flags: Callable[[Launch], list[str]]) -> Spec:
    """`python -m server SERVICE --model MODEL` with the service's flags for the case."""

    def argv(launch: Launch) -> list[str]:
        return [
            launch.ctx.python,
            "-m",
            "server",
            service,
            "--model",
            model,
            "--bind",
            f"127.0.0.1:{launch.port}",
            "--log-level",
            "warning",
            *model_flags(model),
            *flags(launch),
        ]

    return Spec(model, OURS, model_detail(model), argv, workers=model == "prefork")


def spawn(spec: Spec, launch: Launch) -> Proc:
    """Start one server for one case, not waiting for it: `Proc.wait_ready` does."""
    port = free_port()
    launch = Launch(launch.ctx, launch.case, port, launch.pasv)
    log = launch.ctx.logs / f"{launch.case}-{spec.name}.log"
    proc = Proc(spec.name, spec.argv(launch), log, port=port, cwd=spec.root)
    proc.env["BENCH_STATIC_ROOT"] = str(launch.ctx.static)
    proc.env["PYTHONPATH"] = str(spec.root)
    return proc.spawn()


def start(spec: Spec, launch: Launch) -> Proc:
    """Start one server and wait until it listens; raises, with its log's tail, if it does not."""
    return spawn(spec, launch).wait_ready()


def system_tool(name: str) -> str:
    """A Debian package's binary, in PATH or in /usr/sbin (not in PATH for every user)."""
    return shutil.which(name) or f"/usr/sbin/{name}"
