"""The shared table under metrics and FTP limits: rows owned across fork, dead owners' rows
taken back, a recycled pid not mistaken for the owner it replaced."""

from __future__ import annotations

import os
import threading

from server.metrics import Metrics
from server.sharedtable import SharedTable


def _die_holding(table: SharedTable) -> int:
    pid = os.fork()
    if pid == 0:
        table.claim()
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


def test_a_row_is_seen_across_fork_and_taken_back_from_the_dead():
    table = SharedTable(2, 8)
    dead = _die_holding(table)
    assert dead in table.pids.tolist() and not table.alive(table.pids.tolist().index(dead))
    reused: list[int] = []
    assert table.claim(reuse=reused.append) == 0  # free? no: row 0 is the dead one's
    assert reused == [0] and table.pids[0] == os.getpid() and table.alive(0)


def test_claim_skips_live_owners_and_says_when_full():
    table = SharedTable(2, 0)
    assert [table.claim(), table.claim(), table.claim()] == [0, 1, -1]


def test_a_recycled_pid_is_not_the_owner():
    table = SharedTable(1, 0)
    table.claim()
    table._starts[0] = 1  # our pid, but not our start: the process the row names is gone
    assert not table.alive(0)
    freed: list[int] = []
    assert table.reclaim(freed.append) and freed == [0] and table.pids[0] == 0


def test_metrics_reclaim_a_recycled_pid_row_too():
    m = Metrics()
    m.counter("total", "Total.")
    m.gauge("open", "Open now.")
    m.freeze(rows=2)  # the archive and one row
    m.add("total", 5)
    m.add("open")
    m._table._starts[1] = 1  # the row's owner "died" and its pid came back
    m._forked()  # as a new process with that pid would be
    m.add("total")
    assert m.value("total") == 6  # the old counts were folded into the archive
    assert m.value("open") == 0  # the old process's gauge went with it


def test_the_lock_is_usable_in_a_child_forked_while_a_thread_held_it():
    table = SharedTable(1, 0)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with table.locked():
            held.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    held.wait(10)
    try:
        pid = os.fork()
        if pid == 0:
            # lockf is per process: the parent's lockf is not ours, the thread lock is new.
            os._exit(0 if table._lock.acquire(timeout=2) else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        release.set()
        thread.join(10)
