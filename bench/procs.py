"""Servers as child processes: start, learn the address, measure memory, always stop.

Ours bind port 0 and announce the bound address in their start-up log line (the same line
tests/harness.py reads); peers get a free loopback port picked here and are ready when a TCP
connect succeeds. Every wait is bounded; every process runs in its own process group so that
stopping it also stops its workers.
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
READY = re.compile(r" on (\[[^\]]*\]:\d+|[^\s:]+:\d+)[ ,]")
NOFILE = 65536


def free_port() -> int:
    """A loopback port nobody listens on right now (the peer binds it a moment later)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def raise_nofile(limit: int = NOFILE) -> int:
    """Raise RLIMIT_NOFILE as far as allowed (root may raise the hard limit); the new soft."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for want in ((limit, max(limit, hard)), (hard, hard)):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, want)
            break
        except (ValueError, OSError):
            continue
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _child_setup() -> None:
    os.setpgrp()
    raise_nofile()


class Proc:
    """One server process (and its children); a context manager that always stops it."""

    def __init__(self, name: str, argv: Sequence[str], log: Path, port: int = 0, cwd=ROOT):
        self.name, self.argv, self.log_path, self.port = name, list(argv), log, port
        self.cwd = cwd
        self.proc: subprocess.Popen | None = None
        self.started = 0.0
        self.env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def start(self, timeout: float = 30.0) -> Proc:
        return self.spawn().wait_ready(timeout)

    def spawn(self) -> Proc:
        """Start the process without waiting for it to listen (see `wait_ready`)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.cwd,
                env=self.env,
                preexec_fn=_child_setup,
            )
        self.started = time.monotonic()
        return self

    def wait_ready(self, timeout: float = 30.0) -> Proc:
        """Until it accepts a connection; raises (with its log's tail) if it exits or times out."""
        deadline = self.started + timeout
        while not self._ready():
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited {self.proc.returncode}: {self.tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"{self.name} did not start in {timeout:.0f}s: {self.tail()}")
            time.sleep(0.05)
        return self

    def _ready(self) -> bool:
        if not self.port:
            match = READY.search(self.log_path.read_text(errors="replace"))
            if not match:
                return False
            self.port = int(match.group(1).rpartition(":")[2])
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def terminate(self) -> None:
        """SIGTERM the group (the server and its workers), without waiting."""
        if self.alive():
            _signal_group(self.proc.pid, signal.SIGTERM)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the group, then SIGKILL whatever is left after `timeout`."""
        if not self.proc:
            return
        self.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout)
        # Workers of a server that died on its own may outlive it: the group goes either way.
        _signal_group(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)

    def alive(self) -> bool:
        return bool(self.proc) and self.proc.poll() is None

    def tail(self, lines: int = 8) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(text[-lines:])

    def memory(self) -> dict[str, float]:
        """RSS and PSS in MB (10^6 bytes), summed over the process and all its descendants.

        RSS counts pages shared between processes (prefork's workers) once per process; PSS
        splits them, so it is the fairer sum for several processes.
        """
        pids = [self.proc.pid, *descendants(self.proc.pid)]
        rss = sum(_status_kib(pid, "VmRSS:") for pid in pids)
        pss = sum(_rollup_kib(pid, "Pss:") for pid in pids)
        return {"rss_mb": rss * 1024 / 1e6, "pss_mb": pss * 1024 / 1e6, "processes": len(pids)}

    def __enter__(self) -> Proc:
        # `with proc.start()` must not start a second server (and leak the first)
        return self if self.proc else self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


def descendants(root: int) -> list[int]:
    """Every process below `root`, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _status_kib(pid: int, key: str) -> int:
    return _field_kib(f"/proc/{pid}/status", key)


def _rollup_kib(pid: int, key: str) -> int:
    return _field_kib(f"/proc/{pid}/smaps_rollup", key)


def _field_kib(path: str, key: str) -> int:
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0
