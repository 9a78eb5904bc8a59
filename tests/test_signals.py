"""Signals are never lost or left waiting: not by a new child, nor by a loop about to poll."""

from __future__ import annotations

import os
import signal
import threading
import time

from server.models.signals import SignalQueue, accept_signals, fork
from server.net.loop import EventLoop


def test_a_signal_sent_before_the_childs_handlers_reaches_them():
    previous = signal.signal(signal.SIGTERM, lambda *_: os.write(2, b"parent handler in child\n"))
    try:
        read_end, write_end = os.pipe()
        pid = fork()
        if pid == 0:  # the child: the TERM arrives while it is still "booting"
            status = 1
            try:
                os.close(read_end)
                time.sleep(0.3)
                signal.signal(signal.SIGTERM, lambda *_: os.write(write_end, b"term"))
                accept_signals()
                time.sleep(0.3)
                status = 0
            finally:
                os._exit(status)
        os.close(write_end)
        os.kill(pid, signal.SIGTERM)
        with os.fdopen(read_end, "rb") as pipe:
            delivered = pipe.read()
        _, status = os.waitpid(pid, 0)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert delivered == b"term"
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def test_the_parent_gets_its_signal_mask_back():
    before = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    pid = fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == before


def test_a_signal_wakes_a_loop_whose_poll_it_did_not_interrupt():
    """The race between computing the poll's timeout and entering it, made certain: the signal
    is taken by another thread, so the main thread's poll is never interrupted by it."""
    loop = EventLoop()
    got: list[int] = []
    queue = SignalQueue(loop, lambda signum: (got.append(signum), loop.stop()))
    queue.install()
    sender = threading.Thread(target=lambda: (time.sleep(0.3), os.kill(os.getpid(), signal.SIGHUP)))
    sender.start()  # made while the main thread takes signals: so does the sender
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
    try:
        loop.call_later(10, loop.stop)
        started = time.monotonic()
        loop.run()
        waited = time.monotonic() - started
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP})
        sender.join()
        queue.restore()
        loop.close()
    assert got == [signal.SIGHUP]
    assert waited < 5, f"the loop slept {waited:.1f}s with a signal queued"
