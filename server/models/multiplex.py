"""IO multiplexing: one thread watches every socket with select(2), poll(2) or epoll(7)."""

from __future__ import annotations

from ..net.pollers import poller_class
from .base import Model


class Multiplex(Model):
    """Every connection on the main loop; each subclass names its system call."""

    runs_blocking = False
    connections_on_one_thread = True

    def __init__(self, *args, **kwargs):
        self.poller = poller_class(self.name)  # ModelUnavailable where it is missing
        super().__init__(*args, **kwargs)

    def process_request(self, request, addr) -> None:
        self.serve_here(request, addr)


class Select(Multiplex):
    name = "select"
    summary = "one thread, select(2): portable, cheap, at most ~1000 descriptors"

    def capacity(self) -> int:
        return 1000  # select() cannot watch descriptors at or above FD_SETSIZE (1024)


class Poll(Multiplex):
    name = "poll"
    summary = "one thread, poll(2): no descriptor limit, cost grows with open connections"


class Epoll(Multiplex):
    name = "epoll"
    summary = "one thread, epoll(7), Linux: many idle connections cheaply; I/O-bound work"
