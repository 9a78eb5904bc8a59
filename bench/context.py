"""One run's shared state: settings, folders, the data files served, progress on stderr."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .baseline import Baseline
from .results import Results
from .settings import Settings

STATIC_FILES = {"1k.bin": 1024, "1m.bin": 1024 * 1024}
SMALL_FTP_FILE = "small.bin"  # what each short FTP session downloads
BIG_FTP_FILE = "big.bin"


@dataclass
class Context:
    settings: Settings
    out: Path  # this run's results folder
    work: Path  # temporary: data files, peer configs
    results: Results = field(default_factory=Results)
    python: str = sys.executable
    progress: Progress | None = None
    baseline: Baseline | None = None  # --baseline REF: our models at that commit too

    @property
    def static(self) -> Path:
        return self.work / "static"

    @property
    def ftp_root(self) -> Path:
        return self.work / "ftp"

    @property
    def logs(self) -> Path:
        return self.out / "logs"

    def tool(self, name: str) -> str:
        """A console script of the benchmark's venv (gunicorn, waitress-serve, py-spy)."""
        found = Path(self.python).parent / name
        return str(found) if found.exists() else shutil.which(name) or name


def make_work_dir() -> Path:
    """A temporary folder readable by the peers' unprivileged workers (nginx, vsftpd)."""
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    work.chmod(0o755)
    return work


def write_static(ctx: Context) -> None:
    ctx.static.mkdir(mode=0o755, exist_ok=True)
    for name, size in STATIC_FILES.items():
        (ctx.static / name).write_bytes(os.urandom(size))


def write_ftp_files(ctx: Context) -> None:
    """The RETR case's file (random bytes, so nothing can compress or skip it) and a small one."""
    ctx.ftp_root.mkdir(mode=0o755, exist_ok=True)
    block = os.urandom(2**20)
    with open(ctx.ftp_root / BIG_FTP_FILE, "wb") as f:
        for _ in range(ctx.settings.ftp_file_mib):
            f.write(block)
    (ctx.ftp_root / SMALL_FTP_FILE).write_bytes(os.urandom(1024))


class Progress:
    """`[ 12/80  1m05s] http hello epoll 2/3: 14,210 req/s` lines on stderr."""

    def __init__(self, total: int = 0):
        self.total, self.done, self.start = total, 0, time.monotonic()

    def plan(self, steps: int) -> None:
        self.total += steps

    def step(self, message: str) -> None:
        self.done += 1
        self.say(message)

    def say(self, message: str) -> None:
        elapsed = time.monotonic() - self.start
        width = len(str(self.total))
        count = f"{self.done:>{width}}/{self.total}"
        left = ""
        if 0 < self.done < self.total:
            left = f", ~{_clock(elapsed / self.done * (self.total - self.done))} left"
        print(f"[{count} {_clock(elapsed)}{left}] {message}", file=sys.stderr, flush=True)


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s"
