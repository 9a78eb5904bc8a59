"""The two modes -- quick (development, under two minutes) and full (the published figures).

Every load is bounded in time (wrk's duration) or count (bytes, sessions, connections).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

CORES = os.cpu_count() or 2
SUITES = ("http", "ftp", "c10k", "cluster")


@dataclass(frozen=True)
class Settings:
    mode: str
    runs: int  # samples per figure; each figure is their median
    duration: float  # seconds of wrk per sample
    warmup: float  # seconds of wrk per server before its first sample
    connections: int  # wrk connections (keep-alive)
    wrk_threads: int
    ftp_file_mib: int  # the RETR case's file
    sessions: int  # short FTP sessions per sample ...
    session_concurrency: int  # ... this many at a time
    c10k: int  # idle keep-alive connections held in the C10K case
    cluster_connections: int = 64  # wrk connections in the cluster suite (the figure)
    replicas: tuple[int, ...] = (1, 2, 4)
    suites: tuple[str, ...] = SUITES
    only: tuple[str, ...] = field(default=())  # server names; empty = all

    def wants(self, server: str) -> bool:
        return not self.only or server in self.only


FULL = Settings(
    mode="full",
    runs=3,
    duration=10.0,
    warmup=2.0,
    connections=50,
    wrk_threads=2,
    ftp_file_mib=512,
    sessions=200,
    session_concurrency=50,
    c10k=10_000,
)

QUICK = replace(
    FULL,
    mode="quick",
    runs=1,
    duration=1.0,
    warmup=0.0,
    ftp_file_mib=256,
    sessions=100,
    replicas=(1, 2),
    suites=("http", "ftp", "c10k"),
)
