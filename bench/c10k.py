"""C10K: our epoll and prefork models holding N idle keep-alive connections.

Per model: the hello-world rate alone (wrk), then N connections opened -- each sends one
request, reads its answer and stays open, idle -- then the server's memory and the hello-world
rate again while it holds them, and finally how many are still open. Both sides raise
RLIMIT_NOFILE; the server's keep-alive timeout is raised so that idle means held, not dropped.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time

from . import wrk
from .context import Context
from .procs import Proc, raise_nofile
from .servers import Launch, ours, start

MODELS = ("epoll", "prefork")
REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
HOLD_SECONDS = "3600"
OPEN_DEADLINE = 300.0  # seconds to open them all, at most


def _flags(launch: Launch) -> list[str]:
    hold = ["--keepalive-timeout", HOLD_SECONDS, "--timeout", HOLD_SECONDS]
    return ["--app", "bench.apps.hello:app", *hold, "--backlog", "4096"]


def run(ctx: Context) -> None:
    chosen = [m for m in MODELS if ctx.settings.wants(m)]
    ctx.progress.plan(len(chosen) * (2 * ctx.settings.runs + 2))
    limit = raise_nofile()
    if limit < ctx.settings.c10k + 1000:
        ctx.progress.say(f"c10k: RLIMIT_NOFILE is {limit}; fewer connections will open")
    for model in chosen:
        spec = ours("http", model, _flags)
        try:
            proc = start(spec, Launch(ctx, "c10k", 0))
        except (RuntimeError, TimeoutError, OSError) as exc:
            _fig(ctx, model, "held", "connections").notes.append(f"did not start: {exc}")
            ctx.progress.step(f"c10k {model}: did not start")
            continue
        try:
            measure_model(ctx, model, proc)
        finally:
            proc.stop()


def _fig(ctx: Context, model: str, case: str, unit: str, **kw):
    return ctx.results.figure("c10k", case, model, "ours", unit, **kw)


def measure_model(ctx: Context, model: str, proc: Proc) -> None:
    url = f"http://127.0.0.1:{proc.port}/"
    s = ctx.settings
    # Warm, as it will be after the 10,000 requests that open the connections: otherwise the
    # unloaded rate pays for the cold start and the ratio flatters the loaded one.
    with contextlib.suppress(ValueError, OSError, subprocess.SubprocessError):
        wrk.run(url, max(1.0, s.warmup), s.connections, s.wrk_threads)
    _rates(ctx, model, url, "unloaded")
    base = proc.memory()["rss_mb"]
    _fig(ctx, model, "rss-before", "MB", higher_is_better=False).samples.append(base)
    started = time.monotonic()
    conns = open_idle(proc.port, ctx.settings.c10k)
    try:
        took = time.monotonic() - started
        ctx.progress.step(f"c10k {model}: {len(conns):,} connections open in {took:.1f}s")
        _rates(ctx, model, url, "loaded", lambda: _memory(ctx, model, proc))
        held = count_open(conns)
        mem = proc.memory()
        _fig(ctx, model, "held", "connections").samples.append(held)
        ctx.progress.step(
            f"c10k {model}: {held:,} of {ctx.settings.c10k:,} held, RSS {mem['rss_mb']:.1f} MB"
            f" ({mem['processes']} processes)"
        )
    finally:
        for sock in conns:
            sock.close()


def _memory(ctx: Context, model: str, proc: Proc) -> None:
    """RSS and PSS while holding the connections, after each loaded round."""
    mem = proc.memory()
    _fig(ctx, model, "rss", "MB", higher_is_better=False).samples.append(mem["rss_mb"])
    _fig(ctx, model, "pss", "MB", higher_is_better=False).samples.append(mem["pss_mb"])


def _rates(ctx: Context, model: str, url: str, case: str, after=None) -> None:
    s = ctx.settings
    fig = _fig(ctx, model, case, "req/s")
    for rnd in range(s.runs):
        try:
            result = wrk.run(url, s.duration, s.connections, s.wrk_threads)
        except (ValueError, OSError, subprocess.SubprocessError) as exc:
            fig.notes.append(f"{case} round {rnd + 1}: wrk failed: {exc}")
            ctx.progress.step(f"c10k {model} {case}: wrk failed")
            continue
        fig.samples.append(result.rate)
        if after:
            after()
        if result.errors:
            fig.notes.append(f"{case} round {rnd + 1}: {result.error_note()}")
        ctx.progress.step(f"c10k {model} {case} {rnd + 1}/{s.runs}: {result.rate:,.0f} req/s")


def open_idle(port: int, count: int) -> list[socket.socket]:
    """`count` keep-alive connections that each had one answer, now idle (bounded in time)."""
    conns: list[socket.socket] = []
    deadline = time.monotonic() + OPEN_DEADLINE
    while len(conns) < count and time.monotonic() < deadline:
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        except OSError:
            break  # out of descriptors or ports: report how many we got
        try:
            sock.sendall(REQUEST)
            _read_response(sock)
        except OSError:
            sock.close()
            break
        conns.append(sock)
    return conns


def _read_response(sock: socket.socket) -> None:
    """Read one small response: the head, then Content-Length bytes of body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed before answering")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed mid-body")
        body += chunk


def count_open(conns: list[socket.socket]) -> int:
    """How many the server still keeps open: a peek that would block means open and idle."""
    alive = 0
    for sock in conns:
        sock.setblocking(False)  # with a timeout, recv would first wait that long for data
        with contextlib.suppress(OSError):
            try:
                if sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT):
                    continue  # unexpected bytes: not idle
            except BlockingIOError:
                alive += 1
    return alive
