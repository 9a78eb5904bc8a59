"""HTTP: hello-world WSGI and static 1 KiB / 1 MiB, keep-alive, wrk, every model and peer."""

from __future__ import annotations

import http.client
import subprocess

from . import confs, fairness, tls, wrk
from .baseline import with_baseline
from .context import STATIC_FILES, Context
from .fleet import alternate, fleet
from .procs import Proc
from .results import BASELINE, COMPILED, LIMIT, OURS, PEER, Figure
from .servers import MODELS, VARIANTS, Launch, Spec, ours, system_tool, variant
from .settings import CORES

HELLO = b"Hello, World!\n"
CASES = {"hello": "/", "static-1k": "/1k.bin", "static-1m": "/1m.bin", "hello-tls": "/"}
CASE_TITLES = {
    "hello": "hello-world WSGI",
    "static-1k": "static 1 KiB",
    "static-1m": "static 1 MiB",
    "hello-tls": "hello-world WSGI over HTTPS",
}
TLS_CASES = frozenset({"hello-tls"})
# Who can serve HTTPS on its own (waitress, http.server and bjoern cannot).
TLS_SERVERS = frozenset({"gunicorn-sync", "gunicorn-gthread", "granian", "nginx"})
PYTHON_PEERS = ("gunicorn-sync", "gunicorn-gthread", "waitress", "http.server")


def _hello(case: str) -> bool:
    return case in ("hello", "hello-tls")


def _our_flags(launch: Launch) -> list[str]:
    if launch.case in TLS_CASES:
        cert, key = tls.certificate(launch.ctx.work)
        return ["--app", "bench.apps.hello:app", "--certfile", str(cert), "--keyfile", str(key)]
    if launch.case == "hello":
        return ["--app", "bench.apps.hello:app"]
    return ["--root", str(launch.ctx.static)]


def _wsgi_app(launch: Launch) -> str:
    return "bench.apps.hello:app" if _hello(launch.case) else "bench.apps.hello:files"


def _tls_flags(launch: Launch, cert_flag: str, key_flag: str) -> list[str]:
    if launch.case not in TLS_CASES:
        return []
    cert, key = tls.certificate(launch.ctx.work)
    return [cert_flag, str(cert), key_flag, str(key)]


def _gunicorn(worker: str, flags: list[str]):
    def argv(launch: Launch) -> list[str]:
        bind = f"127.0.0.1:{launch.port}"
        tool = launch.ctx.tool("gunicorn")
        common = ["-b", bind, "--backlog", "1024", "--log-level", "warning"]
        tls_flags = _tls_flags(launch, "--certfile", "--keyfile")
        return [tool, "-k", worker, *flags, *common, *tls_flags, _wsgi_app(launch)]

    return argv


def _waitress(launch: Launch) -> list[str]:
    listen = f"--listen=127.0.0.1:{launch.port}"
    return [launch.ctx.tool("waitress-serve"), listen, "--backlog=1024", _wsgi_app(launch)]


def _stdlib(launch: Launch) -> list[str]:
    ctx = launch.ctx
    return [ctx.python, "bench/apps/stdlib_http.py", str(launch.port), str(ctx.static)]


def _granian(launch: Launch) -> list[str]:
    """granian's WSGI interface, one worker per core (its Rust runtime does the sockets)."""
    where = ["--host", "127.0.0.1", "--port", str(launch.port), "--workers", str(CORES)]
    flags = ["--interface", "wsgi", "--backlog", "1024", "--log-level", "warning", "--no-ws"]
    tls_flags = _tls_flags(launch, "--ssl-certificate", "--ssl-keyfile")
    return [launch.ctx.tool("granian"), *flags, *where, *tls_flags, _wsgi_app(launch)]


def _bjoern(launch: Launch) -> list[str]:
    ctx = launch.ctx
    return [ctx.python, "bench/apps/bjoern_run.py", str(launch.port), str(CORES), _wsgi_app(launch)]


def _nginx(launch: Launch) -> list[str]:
    ctx = launch.ctx
    pair = tls.certificate(ctx.work) if launch.case in TLS_CASES else None
    conf = confs.nginx(ctx.work, launch.port, ctx.static, tls=pair)
    return [system_tool("nginx"), "-p", str(ctx.work), "-c", str(conf), "-e", "stderr"]


def specs() -> list[Spec]:
    sync_workers, gthread_workers = 2 * CORES + 1, 2 * CORES
    return [
        *(ours("http", model, _our_flags) for model in MODELS),
        *(variant("http", name, _our_flags) for name in VARIANTS),
        Spec(
            "gunicorn-sync",
            PEER,
            f"sync, {sync_workers} workers (2 x cores + 1)",
            _gunicorn("sync", ["-w", str(sync_workers)]),
        ),
        Spec(
            "gunicorn-gthread",
            PEER,
            f"gthread, {gthread_workers} workers x 8 threads",
            _gunicorn("gthread", ["-w", str(gthread_workers), "--threads", "8"]),
        ),
        Spec("waitress", PEER, "defaults (4 threads)", _waitress),
        Spec("http.server", PEER, "ThreadingHTTPServer, HTTP/1.1", _stdlib),
        Spec("granian", COMPILED, f"Rust, WSGI, {CORES} workers", _granian),
        Spec("bjoern", COMPILED, f"C (libev), {CORES} processes on one SO_REUSEPORT port", _bjoern),
        Spec("nginx", LIMIT, f"{CORES} workers (auto), sendfile, return 200", _nginx),
    ]


def run(ctx: Context) -> None:
    chosen = with_baseline([s for s in specs() if ctx.settings.wants(s.name)], ctx.baseline)
    ctx.results.meta.setdefault("servers", {}).update({s.name: s.detail for s in chosen})
    rounds = sum(serves(spec, case) for case in CASES for spec in chosen)
    ctx.progress.plan(rounds * ctx.settings.runs)
    for case in CASES:
        serving = [s for s in chosen if serves(s, case)]
        with fleet(ctx, serving, case) as (procs, failed):
            for name, error in failed.items():
                _figure(ctx, serving, case, name).notes.append(f"did not start: {error}")
            for name in list(procs):
                error = check(procs[name].port, case)
                if error:
                    _figure(ctx, serving, case, name).notes.append(error)
                    del procs[name]
            for rnd, spec in alternate(serving, ctx.settings.runs):
                measure(ctx, spec, procs.get(spec.name), case, rnd)


def serves(spec: Spec, case: str) -> bool:
    """Whether the server takes part in the case: every one, but HTTPS only who speaks it."""
    return case not in TLS_CASES or spec.kind in (OURS, BASELINE) or spec.name in TLS_SERVERS


def _figure(ctx: Context, chosen: list[Spec], case: str, name: str) -> Figure:
    kind = next(s.kind for s in chosen if s.name == name)
    return ctx.results.figure("http", case, name, kind, "req/s")


def check(port: int, case: str) -> str | None:
    """One request before the load: the server must answer this case correctly."""
    if case in TLS_CASES:
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=tls.unverified())
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", CASES[case])
        resp = conn.getresponse()
        body = resp.read()
    except (OSError, http.client.HTTPException) as exc:
        return f"check failed: {exc!r}"
    finally:
        conn.close()
    size = STATIC_FILES.get(CASES[case].lstrip("/"))
    if resp.status != 200 or (body != HELLO if size is None else len(body) != size):
        return f"check failed: status {resp.status}, {len(body)} bytes"
    return None


def url_scheme(case: str) -> str:
    return "https" if case in TLS_CASES else "http"


def measure(ctx: Context, spec: Spec, proc: Proc | None, case: str, rnd: int) -> None:
    s = ctx.settings
    label = f"http {case} {spec.name} {rnd + 1}/{s.runs}"
    fig = ctx.results.figure("http", case, spec.name, spec.kind, "req/s")
    if proc is None or not proc.alive():
        if proc is not None:
            fig.notes.append(f"died before round {rnd + 1}: {proc.tail(3)}")
        ctx.progress.step(f"{label}: skipped")
        return
    url = f"{url_scheme(case)}://127.0.0.1:{proc.port}{CASES[case]}"
    try:
        if rnd == 0 and s.warmup:
            wrk.run(url, s.warmup, s.connections, s.wrk_threads)
        watched = spec.workers and spec.ours and case == fairness.CASE
        before = fairness.snapshot(proc.port) if watched else None
        result = wrk.run(url, s.duration, s.connections, s.wrk_threads)
        after = fairness.snapshot(proc.port) if before is not None else None
    except (ValueError, OSError, subprocess.SubprocessError) as exc:
        fig.notes.append(f"round {rnd + 1}: wrk failed: {exc}")
        ctx.progress.step(f"{label}: wrk failed: {exc}")
        return
    fig.samples.append(result.rate)
    if after is not None:
        fairness.record(ctx.results, spec.name, fairness.spread(before, after))
    elif watched:
        fig.notes.append(f"round {rnd + 1}: no per-worker counts from {fairness.PATH}")
    if result.errors:
        fig.notes.append(f"round {rnd + 1}: {result.error_note()}")
    ctx.progress.step(f"{label}: {result.rate:,.0f} req/s {result.error_note()}")
