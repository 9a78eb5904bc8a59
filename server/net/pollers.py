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


class _KernelPoller:
    """What poll(2) and epoll(7) share: a kernel object told about each descriptor once."""

    IN = OUT = ERRORS = 0  # the system call's own event bits

    def __init__(self, impl) -> None:
        self._impl = impl

    def register(self, fd: int, mask: int) -> None:
        self._impl.register(fd, self._events(mask))

    def modify(self, fd: int, mask: int) -> None:
        self._impl.modify(fd, self._events(mask))

    def unregister(self, fd: int) -> None:
        self._impl.unregister(fd)

    def _events(self, mask: int) -> int:
        return (self.IN if mask & READ else 0) | (self.OUT if mask & WRITE else 0)

    def _masks(self, events) -> list[tuple[int, int]]:
        bits_in, bits_out, errors = self.IN, self.OUT, self.ERRORS
        masks = []
        for fd, ev in events:
            if ev & errors:  # let the handler's read or write discover the error itself
                masks.append((fd, READ | WRITE))
            else:
                masks.append((fd, (READ if ev & bits_in else 0) | (WRITE if ev & bits_out else 0)))
        return masks


class PollPoller(_KernelPoller):
    """poll(2): no descriptor limit, but the kernel scans the whole list on every call."""

    syscall = "poll"
    if hasattr(select, "poll"):
        IN, OUT = select.POLLIN, select.POLLOUT
        ERRORS = select.POLLERR | select.POLLHUP | select.POLLNVAL

    def __init__(self) -> None:
        super().__init__(select.poll())

    def poll(self, timeout: float | None) -> list[tuple[int, int]]:
        ms = None if timeout is None else max(0, int(timeout * 1000 + 0.999))
        return self._masks(self._impl.poll(ms))

    def close(self) -> None:
        self._impl = None


class EpollPoller(_KernelPoller):
    """epoll(7): Linux only; cost grows with ready descriptors, not with watched ones."""

    syscall = "epoll"
    if hasattr(select, "epoll"):
        IN, OUT = select.EPOLLIN, select.EPOLLOUT
        ERRORS = select.EPOLLERR | select.EPOLLHUP

    def __init__(self) -> None:
        super().__init__(select.epoll())

    def poll(self, timeout: float | None) -> list[tuple[int, int]]:
        return self._masks(self._impl.poll(-1 if timeout is None else max(timeout, 0.0)))

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
