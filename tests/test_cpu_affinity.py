"""prefork --cpu-affinity: each worker runs on one CPU, in turn; with --reuse-port a connection
made from a CPU is served by the worker on that CPU (SO_INCOMING_CPU, Linux 6.1+)."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from harness import PID_APP, http_get, wait_for
from server.models.affinity import least_used

CPUS = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
needs_two_cpus = pytest.mark.skipif(len(CPUS) < 2, reason="needs Linux and two CPUs")


def test_workers_go_round_the_cpus_and_a_replacement_takes_the_free_one():
    assert least_used([0, 1], []) == 0
    assert least_used([0, 1], [0]) == 1
    assert least_used([0, 1], [0, 1]) == 0  # more workers than CPUs: round again
    assert least_used([0, 1], [1]) == 0  # worker 0 died: its replacement goes where it was
    assert least_used([2, 5], [2, 2, 5]) == 5  # the CPUs this process may use (taskset)


def start(server_factory, tmp_path, *flags: str):
    (tmp_path / "pidapp.py").write_text(PID_APP)
    args = ["--app", "pidapp:app", "--workers", "2", "--cpu-affinity", *flags]
    return server_factory("http", "prefork", args=args)


def pinned_workers(server) -> dict[int, int]:
    """CPU -> worker pid, once both workers are pinned to one CPU each."""

    def pinned():
        pins = {}
        for pid, state in server.descendants():
            try:
                cpus = os.sched_getaffinity(pid)
            except OSError:  # gone since
                continue
            if len(cpus) == 1 and state != "Z":
                pins[min(cpus)] = pid
        return pins if len(pins) == 2 else None

    return wait_for(pinned, what="two workers pinned to different CPUs")


def answered_from(cpu: int, server, requests: int = 10) -> set[int]:
    """The worker pids answering fresh connections made by a thread running on `cpu`."""
    pids: set[int] = set()

    def client():
        os.sched_setaffinity(0, {cpu})  # this thread only
        for _ in range(requests):
            status, body = http_get(server)
            assert status == 200
            pids.add(int(body))

    thread = threading.Thread(target=client)
    thread.start()
    thread.join()
    return pids


@needs_two_cpus
@pytest.mark.parametrize("flags", [(), ("--reuse-port",)], ids=["shared", "reuse-port"])
def test_each_worker_runs_on_a_cpu_of_its_own(server_factory, tmp_path, flags):
    server = start(server_factory, tmp_path, *flags)
    assert sorted(pinned_workers(server)) == CPUS[:2]
    assert server.stop() == 0, server.log()


@needs_two_cpus
def test_a_connection_is_served_by_the_worker_on_its_cpu(server_factory, tmp_path):
    server = start(server_factory, tmp_path, "--reuse-port")
    for cpu, pid in pinned_workers(server).items():
        assert answered_from(cpu, server) == {pid}


@needs_two_cpus
def test_a_replacement_takes_the_cpu_of_the_worker_it_replaces(server_factory, tmp_path):
    server = start(server_factory, tmp_path, "--reuse-port")
    before = pinned_workers(server)
    os.kill(before[CPUS[0]], signal.SIGKILL)

    def replaced():
        pins = pinned_workers(server)
        return pins if pins[CPUS[0]] != before[CPUS[0]] else None

    after = wait_for(replaced, what="a replacement pinned")
    assert after[CPUS[1]] == before[CPUS[1]]
    assert answered_from(CPUS[0], server) == {after[CPUS[0]]}
