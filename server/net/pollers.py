"""The three readiness system calls behind one small interface.

Each poller uses exactly one system call -- select(2), poll(2) or epoll(7) -- so the models
built on them can be compared honestly. `selectors` would do, but it allocates a key object per
event; these stay thin because the event loop calls `poll` on every turn.
"""

from __future__ import annotations

import select

from ..errors import ModelUnavailable

#: What a handler waits for: the bits poll(2) and epoll(7) use themselves (POLLIN and
#: EPOLLIN are 1, POLLOUT and EPOLLOUT 4), so interests and events pass untranslated.
READ = 1
WRITE = 4


class SelectPoller:
    """select(2): portable, but limited to file descriptors below FD_SETSIZE (1024)."""

    syscall = "select"
    max_fd = 1024
    #: The bits of an event that make the loop call on_readable / on_writable.
    readable, writable = READ, WRITE

    def __init__(self) -> None:
        self._readers: set[int] = set()
        self._writers: set[int] = set()

    def register(self, fd: int, mask: int) -> None:
        if fd >= self.max_fd:
            raise OSError(f"fd {fd} is beyond select()'s FD_SETSIZE ({self.max_fd})")
        self.modify(fd, mask)

    def modify(self, fd: int, mask: int) -> None:
        (self._readers.add if mask & READ else self._readers.discard)(fd)
        (self._writers.add if mask & WRITE else self._writers.discard)(fd)

    def unregister(self, fd: int) -> None:
        self._readers.discard(fd)
        self._writers.discard(fd)

    def poll(self, timeout: float | None) -> list[tuple[int, int]]:
        readable, writable, _ = select.select(self._readers, self._writers, (), timeout)
        events = {fd: READ for fd in readable}
        for fd in writable:
            events[fd] = events.get(fd, 0) | WRITE
        return list(events.items())

    def close(self) -> None:
        self._readers.clear()
        self._writers.clear()


class _KernelPoller:
    """What poll(2) and epoll(7) share: a kernel object told about each descriptor once, in
    its own bits (READ and WRITE are those), and events given back as it reports them."""

    ERRORS = 0  # the system call's error bits: they wake both sides of the handler, whose
    # read or write then discovers the error itself

    def __init__(self, impl) -> None:
        self._impl = impl
        self.readable, self.writable = READ | self.ERRORS, WRITE | self.ERRORS

    def register(self, fd: int, mask: int) -> None:
        self._impl.register(fd, mask)

    def modify(self, fd: int, mask: int) -> None:
        self._impl.modify(fd, mask)

    def unregister(self, fd: int) -> None:
        self._impl.unregister(fd)


class PollPoller(_KernelPoller):
    """poll(2): no descriptor limit, but the kernel scans the whole list on every call."""

    syscall = "poll"
    if hasattr(select, "poll"):
        ERRORS = select.POLLERR | select.POLLHUP | select.POLLNVAL

    def __init__(self) -> None:
        super().__init__(select.poll())

    def poll(self, timeout: float | None) -> list[tuple[int, int]]:
        ms = None if timeout is None else max(0, int(timeout * 1000 + 0.999))
        return self._impl.poll(ms)

    def close(self) -> None:
        self._impl = None


class EpollPoller(_KernelPoller):
    """epoll(7): Linux only; cost grows with ready descriptors, not with watched ones."""

    syscall = "epoll"
    if hasattr(select, "epoll"):
        ERRORS = select.EPOLLERR | select.EPOLLHUP

    def __init__(self) -> None:
        super().__init__(select.epoll())
        # No Python frame per turn: epoll takes the loop's timeout as it is (seconds, rounded
        # up to milliseconds; None waits forever, and so would a negative one, which the
        # loop never gives) and its events need no translation.
        self.poll = self._impl.poll

    def close(self) -> None:
        self._impl.close()


POLLERS = {"select": SelectPoller, "poll": PollPoller, "epoll": EpollPoller}


def poller_class(name: str) -> type:
    """The poller for a system call, or ModelUnavailable if this platform lacks it."""
    if not hasattr(select, name):
        raise ModelUnavailable(f"{name}() is not available on this platform")
    return POLLERS[name]


def best_poller() -> type:
    """The most scalable poller this platform has (for loops whose choice does not matter)."""
    for name in ("epoll", "poll", "select"):
        if hasattr(select, name):
            return POLLERS[name]
    raise ModelUnavailable("no readiness system call is available")
