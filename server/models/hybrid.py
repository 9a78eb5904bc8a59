"""Hybrid: one event loop owns every socket, a bounded pool of threads runs the application.

The loop (epoll where available, else poll) accepts, reads and parses every request and writes
every answer, so slow clients cost a buffer, never a thread. Only the application -- a WSGI
call, a handler module -- goes to --threads workers through a queue of --queue-size, via the
loop's executor (server/net/executor.py); answers come back to the loop. A slow request
therefore delays nobody else, and slowloris clients holding partial heads hold no worker.

Back-pressure: a connection reads nothing more until its request is answered, and while the
pool is full the model stops accepting; new clients wait in the listen backlog, nothing is
dropped. FTP commands that work on the disk from the control connection (CWD, MKD, RMD,
DELE, RNFR/RNTO, SIZE, MDTM, MLST) run on the pool too; listings (LIST, NLST, MLSD), the file
opens of RETR/STOR and the transfers themselves still run on the loop, as under epoll.
"""

from __future__ import annotations

from ..errors import ModelUnavailable
from ..metrics import METRICS
from ..net.executor import ThreadPool
from ..net.pollers import poller_class
from .base import Model
from .lifecycle import RUNNING
from .thread import QUEUE_SIZE, THREADS

METRICS.counter("server_pool_full_total", "Times the hybrid model's application queue filled up.")


class Hybrid(Model):
    name = "hybrid"
    summary = (
        "an epoll loop does all I/O, --threads run the app: slow requests and clients delay nobody"
    )
    options = (THREADS, QUEUE_SIZE)
    runs_blocking = False
    multithread = True
    connections_on_one_thread = True

    def __init__(self, *args, **kwargs):
        try:
            self.poller = poller_class("epoll")
        except ModelUnavailable:  # not Linux: poll(2) has no descriptor ceiling either
            self.poller = poller_class("poll")
        super().__init__(*args, **kwargs)

    def start(self) -> None:
        self.pool = ThreadPool(
            self.loop,
            self.settings.threads,
            self.settings.queue_size,
            on_full=self._pool_full,
            on_room=self._pool_has_room,
        )
        self.loop.executor = self.pool
        super().start()

    def process_request(self, request, addr) -> None:
        self.serve_here(request, addr)

    def has_room(self) -> bool:
        return not self.pool.full and super().has_room()

    def _pool_full(self) -> None:
        METRICS.add("server_pool_full_total")
        self.input.pause()

    def _pool_has_room(self) -> None:
        if self.state == RUNNING and self.input.paused and self.has_room():
            self.input.resume()

    def stuck_for(self) -> float:
        return self.pool.busy_for()

    def cleanup(self) -> None:
        if hasattr(self, "pool"):
            self.pool.close()
        super().cleanup()
