"""The HTTP load generator: Debian's wrk, the same command line for every server."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass

UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}
_RATE = re.compile(r"Requests/sec:\s+([\d.]+)")
_TRANSFER = re.compile(r"Transfer/sec:\s+([\d.]+)([KMGT]?B)")
_TOTAL = re.compile(r"(\d+) requests in ")
_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_NON2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")
# `--latency`'s distribution: "     99%   29.40ms" (wrk prints us, ms, s, m or h)
_PERCENTILE = re.compile(r"^\s+(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.M)
_MS_PER = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


LOOPBACK = ("127.", "localhost")


@dataclass
class WrkResult:
    rate: float  # requests per second
    bytes_per_sec: float
    requests: int
    errors: dict[str, int]  # connect/read/write/timeout/status, only those not zero
    p50_ms: float | None = None  # latency percentiles (None: wrk printed no distribution)
    p99_ms: float | None = None

    @property
    def mib_per_sec(self) -> float:
        return self.bytes_per_sec / 2**20

    def error_note(self) -> str:
        return ", ".join(f"{n} {k}" for k, n in self.errors.items())


def parse(text: str) -> WrkResult:
    rate = _RATE.search(text)
    if not rate:
        raise ValueError(f"no Requests/sec in wrk's output: {text.strip()[-300:]}")
    transfer = _TRANSFER.search(text)
    per_sec = float(transfer.group(1)) * UNITS[transfer.group(2)] if transfer else 0.0
    total = _TOTAL.search(text)
    errors: dict[str, int] = {}
    sock = _SOCKET.search(text)
    if sock:
        for name, value in zip(("connect", "read", "write", "timeout"), sock.groups(), strict=True):
            errors[name] = int(value)
    status = _NON2XX.search(text)
    if status:
        errors["non-2xx"] = int(status.group(1))
    errors = {k: v for k, v in errors.items() if v}
    count = int(total.group(1)) if total else 0
    pct = {
        int(m.group(1)): float(m.group(2)) * _MS_PER[m.group(3)] for m in _PERCENTILE.finditer(text)
    }
    return WrkResult(float(rate.group(1)), per_sec, count, errors, pct.get(50), pct.get(99))


def run(url: str, duration: float, connections: int, threads: int) -> WrkResult:
    """One bounded wrk run against `url` (loopback only)."""
    if not url.startswith(tuple(f"{s}://{h}" for s in ("http", "https") for h in LOOPBACK)):
        raise ValueError(f"load goes to loopback only, not {url}")
    seconds = max(1, round(duration))
    argv = [
        "wrk",
        f"-t{min(threads, connections)}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "5s",
        "--latency",  # the percentiles (wrk records them anyway; this prints them)
        url,
    ]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    return parse(out.stdout + out.stderr)
