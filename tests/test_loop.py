"""The event loop: timers, cancellation, cross-thread calls, each poller."""

import select
import socket
import threading
import time

import pytest

from server.net.loop import EventLoop
from server.net.pollers import POLLERS, READ, WRITE


@pytest.fixture(params=list(POLLERS))
def loop(request):
    loop = EventLoop(POLLERS[request.param])
    yield loop
    loop.close()


def test_timers_fire_in_order(loop):
    fired = []
    loop.call_later(0.03, fired.append, "b")
    loop.call_later(0.01, fired.append, "a")
    loop.call_later(0.05, loop.stop)
    loop.run()
    assert fired == ["a", "b"]


def test_cancelled_timers_do_not_fire_and_do_not_pile_up(loop):
    fired = []
    for _ in range(10_000):
        loop.call_later(60, fired.append, "never").cancel()
    assert len(loop._timers) < 1000  # compacted, not kept until their deadline
    loop.call_later(0.01, loop.stop)
    loop.run()
    assert fired == []


def test_call_soon_threadsafe_wakes_a_sleeping_loop(loop):
    woke = []
    threading.Timer(0.05, loop.call_soon_threadsafe, args=(woke.append, 1)).start()
    started = time.monotonic()
    loop.run(until=lambda: woke)
    assert woke == [1]
    assert time.monotonic() - started < 5


def test_readiness_reaches_the_handler(loop):
    a, b = socket.socketpair()

    class Reader:
        got = b""

        def on_readable(self):
            self.got += a.recv(100)

        def on_writable(self):
            pass

    reader = Reader()
    loop.set_interest(a.fileno(), reader, READ)
    b.sendall(b"ready")
    loop.run(until=lambda: reader.got)
    assert reader.got == b"ready"
    loop.forget(a.fileno())
    assert loop.watched() == 0
    a.close()
    b.close()


def test_interests_are_the_kernels_own_bits():
    """poll and epoll take and report READ and WRITE untranslated."""
    assert (READ, WRITE) == (select.POLLIN, select.POLLOUT)
    if hasattr(select, "epoll"):
        assert (READ, WRITE) == (select.EPOLLIN, select.EPOLLOUT)


def test_a_hangup_wakes_only_the_side_that_waits(loop):
    """The peer's close is an error/hangup event for poll and epoll: it reaches the handler
    through what it waits for (here writing), never through a side it does not watch."""
    a, b = socket.socketpair()
    calls = []

    class Writer:
        def on_readable(self):
            calls.append("read")

        def on_writable(self):
            calls.append("write")
            loop.forget(a.fileno())

    loop.set_interest(a.fileno(), Writer(), WRITE)
    b.close()
    loop.run(until=lambda: calls)
    assert calls == ["write"]
    a.close()
