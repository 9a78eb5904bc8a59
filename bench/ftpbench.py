"""FTP: RETR of one big file, and many short sessions at once -- every model, pyftpdlib, vsftpd."""

from __future__ import annotations

from . import confs, ftpclient
from .baseline import with_baseline
from .context import BIG_FTP_FILE, SMALL_FTP_FILE, Context
from .fleet import alternate, fleet
from .procs import Proc
from .results import PEER
from .servers import MODELS, Launch, Spec, ours, system_tool

CASES = {"retr": "MiB/s", "sessions": "sessions/s"}
CASE_TITLES = {"retr": "RETR of one big file", "sessions": "short sessions"}
PASV_BASE, PASV_SPAN = 20000, 500  # below the ephemeral range, one span per server
ERRORS = (OSError, ftpclient.FTPError, TimeoutError)


def _pasv(i: int) -> tuple[int, int]:
    low = PASV_BASE + i * PASV_SPAN
    return low, low + PASV_SPAN - 1


def _our_flags(launch: Launch) -> list[str]:
    ports = f"{launch.pasv[0]}-{launch.pasv[1]}"
    return ["--root", str(launch.ctx.ftp_root), "--anonymous", "--passive-ports", ports]


def _pyftpdlib(launch: Launch) -> list[str]:
    ctx, ports = launch.ctx, f"{launch.pasv[0]}-{launch.pasv[1]}"
    return [ctx.python, "bench/apps/pyftpd.py", str(launch.port), str(ctx.ftp_root), ports]


def _vsftpd(launch: Launch) -> list[str]:
    ctx = launch.ctx
    conf = confs.vsftpd(ctx.work, launch.port, ctx.ftp_root, launch.pasv)
    return [system_tool("vsftpd"), str(conf)]


def specs() -> list[Spec]:
    return [
        *(ours("ftp", model, _our_flags) for model in MODELS),
        Spec("pyftpdlib", PEER, "FTPServer (one async loop), anonymous", _pyftpdlib),
        Spec("vsftpd", PEER, "standalone, a process per session, sendfile", _vsftpd),
    ]


def run(ctx: Context) -> None:
    chosen = with_baseline([s for s in specs() if ctx.settings.wants(s.name)], ctx.baseline)
    ctx.results.meta.setdefault("ftp_servers", {}).update({s.name: s.detail for s in chosen})
    ctx.progress.plan(len(CASES) * len(chosen) * ctx.settings.runs)
    with fleet(ctx, chosen, "ftp", pasv=_pasv) as (procs, failed):
        for case, unit in CASES.items():
            for spec in chosen:
                fig = ctx.results.figure("ftp", case, spec.name, spec.kind, unit)
                if spec.name in failed:
                    fig.notes.append(f"did not start: {failed[spec.name]}")
                elif error := check(procs[spec.name]):
                    fig.notes.append(error)
                    del procs[spec.name]
            for rnd, spec in alternate(chosen, ctx.settings.runs):
                measure(ctx, spec, procs.get(spec.name), case, rnd)


def check(proc: Proc) -> str | None:
    try:
        ftpclient.session(proc.port, SMALL_FTP_FILE)
    except ERRORS as exc:
        return f"check failed: {exc!r}"
    return None


def measure(ctx: Context, spec: Spec, proc: Proc | None, case: str, rnd: int) -> None:
    s = ctx.settings
    label = f"ftp {case} {spec.name} {rnd + 1}/{s.runs}"
    fig = ctx.results.figure("ftp", case, spec.name, spec.kind, CASES[case])
    if proc is None or not proc.alive():
        if proc is not None:
            fig.notes.append(f"died before round {rnd + 1}: {proc.tail(3)}")
        ctx.progress.step(f"{label}: skipped")
        return
    try:
        if case == "retr":
            value, failures = _retr(ctx, proc), 0
        else:
            value, failures = ftpclient.sessions_rate(
                proc.port, SMALL_FTP_FILE, s.sessions, s.session_concurrency
            )
    except ERRORS as exc:
        fig.notes.append(f"round {rnd + 1}: {exc!r}")
        ctx.progress.step(f"{label}: failed: {exc!r}")
        return
    fig.samples.append(value)
    if failures:
        fig.notes.append(f"round {rnd + 1}: {failures} of {s.sessions} sessions failed")
    ctx.progress.step(f"{label}: {value:,.1f} {CASES[case]}")


def _retr(ctx: Context, proc: Proc) -> float:
    size = ctx.settings.ftp_file_mib * 2**20
    return ftpclient.retr_rate(proc.port, BIG_FTP_FILE, size)
