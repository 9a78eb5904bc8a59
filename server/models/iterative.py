"""The loop model: serve one client (or one datagram) to the end, then take the next."""

from __future__ import annotations

from .base import Model


class Iterative(Model):
    """One request at a time, on the main thread.

    Simple and cheap, and right for UDP services whose requests finish at once. A client that
    stays connected holds everyone else in the listen backlog: that is the model's nature.
    """

    name = "iterative"
    summary = "one client at a time; simplest, fine for quick UDP requests, no concurrency"
    connections_on_one_thread = True

    def capacity(self) -> int:
        return 1

    def process_request(self, request, addr) -> None:
        self.serve_here(request, addr)
