"""LineSink: a full pipe never blocks the writer; held lines arrive whole and in order; lines
past the bound are dropped and counted. Then the real thing: servers under every model keep
serving with their access log and stderr on pipes that nobody reads."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from harness import _READY, MODELS, ROOT
from server.logsink import LineSink
from server.metrics import METRICS

LINE = b"x" * 99 + b"\n"


@pytest.fixture
def pipe():
    read_end, write_end = os.pipe()
    yield read_end, write_end
    for fd in (read_end, write_end):
        try:
            os.close(fd)
        except OSError:
            pass


@pytest.fixture
def counted():
    """METRICS laid out in this process, so drops can be read back."""
    if METRICS._view is None:
        METRICS.freeze(rows=4)
    return lambda: METRICS.value("server_log_lines_dropped_total", "access")


def read_all(fd: int, until: int, timeout: float = 10) -> bytes:
    data, deadline = b"", time.monotonic() + timeout
    while len(data) < until and time.monotonic() < deadline:
        data += os.read(fd, 65536)
    return data


def test_a_full_pipe_does_not_block_and_held_lines_arrive_whole(pipe):
    read_end, write_end = pipe
    sink = LineSink(write_end, "access", limit=1 << 20)
    lines = 5000  # 500 KB: eight times what a pipe holds, within the backlog's bound
    started = time.monotonic()
    for _ in range(lines):
        sink.write(LINE)
    assert time.monotonic() - started < 2  # a blocking write would wait here forever
    data = read_all(read_end, lines * len(LINE))
    assert data == LINE * lines  # nothing lost, nothing torn, in order


def test_past_the_bound_whole_lines_are_dropped_and_counted(pipe, counted):
    read_end, write_end = pipe
    sink = LineSink(write_end, "access", limit=10 * len(LINE))
    before = counted()
    for number in range(2000):
        sink.write(b"%099d\n" % number)
    dropped = counted() - before
    assert dropped > 0
    data = read_all(read_end, (2000 - dropped) * len(LINE), timeout=5)
    kept = data.splitlines()
    assert len(kept) == 2000 - dropped
    assert all(len(line) == 99 for line in kept)  # whole lines only
    assert [int(n) for n in kept] == sorted(int(n) for n in kept)


def test_the_pipes_other_writers_stay_blocking(pipe):
    _, write_end = pipe
    LineSink(write_end, "access")
    assert os.get_blocking(write_end)  # only the sink's own descriptor is non-blocking


def test_a_regular_file_is_written_in_place(tmp_path):
    path = tmp_path / "access.log"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        sink = LineSink(fd, "access")
        assert sink.fd == fd
        sink.write(LINE)
    finally:
        os.close(fd)
    assert path.read_bytes() == LINE


def test_flush_sends_what_is_held_once_the_reader_reads(pipe):
    read_end, write_end = pipe
    sink = LineSink(write_end, "access")
    for _ in range(2000):
        sink.write(LINE)
    reader = threading.Thread(target=lambda: received.append(read_all(read_end, 2000 * len(LINE))))
    received: list[bytes] = []
    reader.start()
    sink.flush(timeout=5)
    reader.join(10)
    assert received == [LINE * 2000]


@pytest.mark.parametrize("model", MODELS)
def test_servers_keep_serving_with_their_logs_on_unread_pipes(model, tmp_path):
    """stdout (the access log) and stderr (debug level) are pipes nobody reads once the server
    has said where it listens: 1,200 requests, more log than the pipes hold, all answered."""
    (tmp_path / "a.txt").write_text("hello\n")
    read_out, write_out = os.pipe()
    command = [sys.executable, "-m", "server", "http", "--model", model, "--bind", "127.0.0.1:0",
               "--root", str(tmp_path), "--access-log", "-", "--log-level", "debug",
               "--workers", "2"]  # fmt: skip
    proc = subprocess.Popen(command, stdout=write_out, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    os.close(write_out)
    try:
        address = _listening_address(proc)
        for _ in range(1200):
            with urllib.request.urlopen(f"http://{address}/a.txt", timeout=10) as reply:
                assert reply.read() == b"hello\n"
        metrics = urllib.request.urlopen(f"http://{address}/-/metrics", timeout=10).read()
        assert b'server_log_lines_dropped_total{sink="access"}' in metrics
    finally:
        proc.terminate()
        proc.wait(30)
        os.close(read_out)
        proc.stderr.close()


def _listening_address(proc) -> str:
    """Read stderr up to the start-up line naming the address, and no further."""
    for line in proc.stderr:
        match = _READY.search(line.decode())
        if match:
            return match.group(1)
    raise AssertionError(f"the server exited with status {proc.wait()}")
