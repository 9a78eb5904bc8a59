"""FTP: RETR of one big file and many short sessions at once, then RETR over FTPS -- every model,
pyftpdlib, vsftpd.

Two fleets, one after the other: the clear-text servers for `retr` and `sessions`, then the same
servers with the shared certificate and TLS required (control and data) for `retr-tls`, so the
clear-text figures are those of servers that have no certificate.
"""

from __future__ import annotations

import ftplib

from . import confs, ftpclient, tls
from .baseline import with_baseline
from .context import BIG_FTP_FILE, SMALL_FTP_FILE, Context
from .fleet import alternate, fleet
from .procs import Proc
from .results import PEER
from .servers import MODELS, Launch, Spec, ours, system_tool

CASES = {"retr": "MiB/s", "sessions": "sessions/s", "retr-tls": "MiB/s"}
CASE_TITLES = {
    "retr": "RETR of one big file",
    "sessions": "short sessions",
    "retr-tls": "FTPS RETR of one big file",
}
FLEETS = {"ftp": ("retr", "sessions"), "ftps": ("retr-tls",)}  # fleet (Launch.case) -> cases
PASV_BASE, PASV_SPAN = 20000, 500  # below the ephemeral range, one span per server
ERRORS = (OSError, EOFError, ftpclient.FTPError, ftplib.Error, TimeoutError)


def _pasv(i: int) -> tuple[int, int]:
    low = PASV_BASE + i * PASV_SPAN
    return low, low + PASV_SPAN - 1


def _pair(launch: Launch) -> tuple[str, str] | None:
    """The shared certificate and key for the FTPS fleet; None for clear text."""
    if launch.case != "ftps":
        return None
    cert, key = tls.certificate(launch.ctx.work)
    return str(cert), str(key)


def _our_flags(launch: Launch) -> list[str]:
    ports = f"{launch.pasv[0]}-{launch.pasv[1]}"
    flags = ["--root", str(launch.ctx.ftp_root), "--anonymous", "--passive-ports", ports]
    if pair := _pair(launch):
        flags += ["--certfile", pair[0], "--keyfile", pair[1], "--tls-required"]
    return flags


def _pyftpdlib(launch: Launch) -> list[str]:
    ctx, ports = launch.ctx, f"{launch.pasv[0]}-{launch.pasv[1]}"
    argv = [ctx.python, "bench/apps/pyftpd.py", str(launch.port), str(ctx.ftp_root), ports]
    return argv + list(_pair(launch) or ())


def _vsftpd(launch: Launch) -> list[str]:
    ctx = launch.ctx
    pair = tls.certificate(ctx.work) if _pair(launch) else None
    conf = confs.vsftpd(ctx.work, launch.port, ctx.ftp_root, launch.pasv, tls=pair)
    return [system_tool("vsftpd"), str(conf)]


def specs() -> list[Spec]:
    return [
        *(ours("ftp", model, _our_flags) for model in MODELS),
        Spec(
            "pyftpdlib",
            PEER,
            "FTPServer (one async loop), anonymous; FTPS: TLS_FTPHandler (pyOpenSSL)",
            _pyftpdlib,
        ),
        Spec(
            "vsftpd",
            PEER,
            "standalone, a process per session, sendfile; FTPS: ssl_enable, no sendfile",
            _vsftpd,
        ),
    ]


def run(ctx: Context) -> None:
    chosen = with_baseline([s for s in specs() if ctx.settings.wants(s.name)], ctx.baseline)
    ctx.results.meta.setdefault("ftp_servers", {}).update({s.name: s.detail for s in chosen})
    ctx.progress.plan(len(CASES) * len(chosen) * ctx.settings.runs)
    for name, cases in FLEETS.items():
        with fleet(ctx, chosen, name, pasv=_pasv) as (procs, failed):
            for case in cases:
                for spec in chosen:
                    fig = ctx.results.figure("ftp", case, spec.name, spec.kind, CASES[case])
                    if spec.name in failed:
                        fig.notes.append(f"did not start: {failed[spec.name]}")
                    elif spec.name in procs and (error := check(ctx, procs[spec.name], case)):
                        fig.notes.append(error)
                        del procs[spec.name]
                for rnd, spec in alternate(chosen, ctx.settings.runs):
                    measure(ctx, spec, procs.get(spec.name), case, rnd)


def check(ctx: Context, proc: Proc, case: str) -> str | None:
    """One short session before the load; over FTPS, says what TLS the data connection got."""
    try:
        if case == "retr-tls":
            negotiated = ftpclient.tls_session(proc.port, SMALL_FTP_FILE)
            ctx.progress.say(f"ftp {case} {proc.name}: data connection {negotiated}")
        else:
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
        if case == "sessions":
            value, failures = ftpclient.sessions_rate(
                proc.port, SMALL_FTP_FILE, s.sessions, s.session_concurrency
            )
        else:
            value, failures = _retr(ctx, proc, case), 0
    except ERRORS as exc:
        fig.notes.append(f"round {rnd + 1}: {exc!r}")
        ctx.progress.step(f"{label}: failed: {exc!r}")
        return
    fig.samples.append(value)
    if failures:
        fig.notes.append(f"round {rnd + 1}: {failures} of {s.sessions} sessions failed")
    ctx.progress.step(f"{label}: {value:,.1f} {CASES[case]}")


def _retr(ctx: Context, proc: Proc, case: str) -> float:
    size = ctx.settings.ftp_file_mib * 2**20
    rate = ftpclient.retr_tls_rate if case == "retr-tls" else ftpclient.retr_rate
    return rate(proc.port, BIG_FTP_FILE, size)
