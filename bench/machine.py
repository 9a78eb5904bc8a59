"""What the figures were measured on: the machine, its load, the versions of everything."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from importlib import metadata

from .procs import ROOT
from .servers import system_tool


def describe() -> dict:
    return {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": round(_mem_total_kib() / 2**20, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "commit": _run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]),
        "load_before": load(),
        "versions": versions(),
    }


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def versions() -> dict[str, str]:
    found = {}
    for dist in ("gunicorn", "waitress", "granian", "bjoern", "pyftpdlib", "matplotlib"):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[dist] = "missing"
    found["nginx"] = _run([system_tool("nginx"), "-v"]).rpartition("/")[2]
    found["wrk"] = _run(["wrk", "--version"]).split(" [")[0].removeprefix("wrk ")
    found["vsftpd"] = _package_version("vsftpd")
    return found


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total_kib() -> int:
    with open("/proc/meminfo") as f:
        return int(f.readline().split()[1])


def _package_version(name: str) -> str:
    return _run(["dpkg-query", "-W", "-f=${Version}", name]) or "missing"


def _run(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ""
    return (out.stdout + out.stderr).strip().splitlines()[0] if (out.stdout + out.stderr) else ""
