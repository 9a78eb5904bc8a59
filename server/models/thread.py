"""Concurrency with threads: a thread per request, or a fixed pool fed by a bounded queue."""

from __future__ import annotations

import queue
import threading

from .base import Model
from .options import Option

THREADS = Option("threads", int, 16, "threadpool, hybrid: worker threads", minimum=1)
QUEUE_SIZE = Option(
    "queue_size", int, 256, "threadpool, hybrid: requests waiting for a worker", minimum=0
)


class ThreadPerRequest(Model):
    """Each request gets a new thread, at most --max-threads at once.

    Threads are cheap next to processes and share memory, but share the GIL too: good for
    clients that hold a connection and mostly wait, not for CPU-heavy requests.
    """

    name = "thread"
    summary = "a thread per client (bounded by --max-threads): long-lived, mostly idle clients"
    options = (Option("max_threads", int, 512, "thread: most threads at once", minimum=1),)
    multithread = True

    def capacity(self) -> int:
        return self.settings.max_threads

    def process_request(self, request, addr) -> None:
        flight = self.begin(request, addr)
        threading.Thread(
            target=self._run, args=(request, addr, flight), daemon=True, name=f"request-{addr}"
        ).start()

    def _run(self, request, addr, flight) -> None:
        try:
            self.serve_blocking(request, addr, flight)
        finally:
            self.loop.call_soon_threadsafe(self.end, flight)


class ThreadPool(Model):
    """--threads workers take requests from a queue of at most --queue-size.

    No thread is created per request, and the bound is fixed; a client that holds a worker
    (a long keep-alive) delays the ones queued behind it.
    """

    name = "threadpool"
    summary = "a fixed pool of --threads workers and a bounded queue: steady load, fixed cost"
    options = (THREADS, QUEUE_SIZE)
    multithread = True

    def capacity(self) -> int:
        return self.settings.threads + self.settings.queue_size

    def start(self) -> None:
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.workers = [
            threading.Thread(target=self._work, daemon=True, name=f"worker-{i}")
            for i in range(self.settings.threads)
        ]
        for worker in self.workers:
            worker.start()
        super().start()

    def process_request(self, request, addr) -> None:
        # The input pauses at capacity, so the queue never holds more than --queue-size.
        self.queue.put((request, addr, self.begin(request, addr)))

    def _work(self) -> None:
        while (item := self.queue.get()) is not None:
            request, addr, flight = item
            try:
                self.serve_blocking(request, addr, flight)
            finally:
                self.loop.call_soon_threadsafe(self.end, flight)

    def cleanup(self) -> None:
        for _ in self.workers:
            self.queue.put(None)
        for worker in self.workers:
            worker.join(timeout=1.0)
        super().cleanup()
