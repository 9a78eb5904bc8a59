"""The three readiness system calls behind one small interface.

Each poller uses exactly one system call -- select(2), poll(2) or epoll(7) -- so the models
built on them can be compared honestly. `selectors` would do, but it allocates a key object per
event; these stay thin because the event loop calls `poll` on every turn.
"""

from __future__ import annotations

import select

from ..errors import ModelUnavailable

READ = 1
WRITE = 2


class SelectPoller:
    """select(2): portable, but limited to file descriptors below FD_SETSIZE (1024)."""

    syscall = "select"
    max_fd = 1024

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


class PollPoller:
    """poll(2): no descriptor limit, but the kernel scans the whole list on every call."""

    syscall = "poll"
    _ERRORS = select.POLLERR | select.POLLHUP | select.POLLNVAL if hasattr(select, "poll") else 0

    def __init__(self) -> None:
        self._poll = select.poll()

    def register(self, fd: int, mask: int) -> None:
        self._poll.register(fd, self._events(mask))

    def modify(self, fd: int, mask: int) -> None:
        self._poll.modify(fd, self._events(mask))

    def unregister(self, fd: int) -> None:
        self._poll.unregister(fd)

    def poll(self, timeout: float | None) -> list[tuple[int, int]]:
        ms = None if timeout is None else max(0, int(timeout * 1000 + 0.999))
        return [(fd, self._mask(ev)) for fd, ev in self._poll.poll(ms)]

    def close(self) -> None:
        self._poll = None

    @staticmethod
    def _events(mask: int) -> int:
        return (select.POLLIN if mask & READ else 0) | (select.POLLOUT if mask & WRITE else 0)

    @classmethod
    def _mask(cls, ev: int) -> int:
        if ev & cls._ERRORS:  # let the handler's read or write discover the error itself
            return READ | WRITE
        return (READ if ev & select.POLLIN else 0) | (WRITE if ev & select.POLLOUT else 0)


class EpollPoller:
    """epoll(7): Linux only; cost grows with ready descriptors, not with watched ones."""

    syscall = "epoll"
    _ERRORS = select.EPOLLERR | select.EPOLLHUP if hasattr(select, "epoll") else 0

    def __init__(self) -> None:
        self._epoll = select.epoll()

    def register(self, fd: int, mask: int) -> None:
        self._epoll.register(fd, self._events(mask))

    def modify(self, fd: int, mask: int) -> None:
        self._epoll.modify(fd, self._events(mask))

    def unregister(self, fd: int) -> None:
        self._epoll.unregister(fd)

    def poll(self, timeout: float | None) -> list[tuple[int, int]]:
        events = self._epoll.poll(-1 if timeout is None else max(timeout, 0.0))
        return [(fd, self._mask(ev)) for fd, ev in events]

    def close(self) -> None:
        self._epoll.close()

    @staticmethod
    def _events(mask: int) -> int:
        return (select.EPOLLIN if mask & READ else 0) | (select.EPOLLOUT if mask & WRITE else 0)

    @classmethod
    def _mask(cls, ev: int) -> int:
        if ev & cls._ERRORS:
            return READ | WRITE
        return (READ if ev & select.EPOLLIN else 0) | (WRITE if ev & select.EPOLLOUT else 0)


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
