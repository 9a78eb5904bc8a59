"""Forking with signals held: a signal sent to a new child before it has handlers is not lost."""

from __future__ import annotations

import os
import signal
import time

from server.models.signals import accept_signals, fork


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
