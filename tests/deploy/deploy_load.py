"""A bounded load through the balancer, on 127.0.0.1 only.

A few threads repeat an attempt -- an HTTP GET, an FTP session -- each on new connections (so
a failure is never a stale keep-alive connection the client reused), until told to stop,
`max_requests` were sent or `max_seconds` passed, whichever comes first. An attempt names
who answered, or raises: every error counts as a failure; a slow answer does not, up to its
timeout (30 s for HTTP: nginx's own proxy_read_timeout).
"""

from __future__ import annotations

import collections
import http.client
import threading
import time
from collections.abc import Callable


def get(port: int, path: str = "/-/health", timeout: float = 30.0) -> tuple[int, str]:
    """One GET to 127.0.0.1:port: (status, X-Served-By)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        response = conn.getresponse()
        response.read()
        return response.status, response.getheader("X-Served-By", "")
    finally:
        conn.close()


def http_attempt(port: int) -> Callable[[], str]:
    """A GET whose answer must be a 200; it names the X-Served-By."""

    def attempt() -> str:
        status, who = get(port)
        if status != 200:
            raise ValueError(f"status {status} from {who or '?'}")
        return who

    return attempt


def served_by(port: int, want: set[str], attempts: int = 60) -> collections.Counter:
    """Send up to `attempts` requests until every name in `want` has answered."""
    seen: collections.Counter = collections.Counter()
    for _ in range(attempts):
        status, who = get(port)
        seen[f"{status} {who}"] += 1
        if want <= {k.split(" ", 1)[1] for k in seen if k.startswith("200 ")}:
            break
    return seen


class Load:
    def __init__(self, attempt: Callable[[], str], threads: int = 2, max_requests: int = 30_000,
                 max_seconds: float = 400.0, pause: float = 0.01):  # fmt: skip
        self.attempt, self.threads, self.pause = attempt, threads, pause
        self.max_requests, self.max_seconds = max_requests, max_seconds
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.sent = 0
        self.ok: collections.Counter = collections.Counter()  # who answered -> count
        self.failures: list[str] = []
        self._workers: list[threading.Thread] = []

    def __enter__(self) -> Load:
        self.deadline = time.monotonic() + self.max_seconds
        for i in range(self.threads):
            t = threading.Thread(target=self._run, name=f"load-{i}", daemon=True)
            t.start()
            self._workers.append(t)
        return self

    def __exit__(self, *exc) -> None:
        self.stop_event.set()
        for t in self._workers:
            t.join(timeout=30)

    def _take(self) -> bool:
        with self.lock:
            if self.stop_event.is_set() or self.sent >= self.max_requests:
                return False
            if time.monotonic() >= self.deadline:
                return False
            self.sent += 1
            return True

    def _run(self) -> None:
        while self._take():
            try:
                who = self.attempt()
            except Exception as exc:  # every failure is a result, whatever its kind
                with self.lock:
                    self.failures.append(f"{type(exc).__name__}: {exc}")
            else:
                with self.lock:
                    self.ok[who] += 1
            time.sleep(self.pause)
