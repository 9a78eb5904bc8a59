"""Clients for the cluster tests: plain GETs and a bounded load through nginx on 127.0.0.1."""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from dataclasses import dataclass

HOST = "127.0.0.1"  # the only address the tests talk to: nginx's published ports
HTTP_PORT, HTTPS_PORT, FTP_PORT, ECHO_PORT = 8080, 8443, 2121, 7000
PASSIVE = {"ftp-fork": range(30000, 30010), "ftp-thread": range(30010, 30020)}
HTTP_REPLICAS = {
    "http-fork": "fork",
    "http-prefork": "prefork",
    "http-thread": "thread",
    "http-threadpool": "threadpool",
}
PUBLISHED_TCP = [
    HTTP_PORT,
    HTTPS_PORT,
    FTP_PORT,
    ECHO_PORT,
    *PASSIVE["ftp-fork"],
    *PASSIVE["ftp-thread"],
]


@dataclass
class Reply:
    status: int
    served_by: str
    body: bytes
    headers: http.client.HTTPMessage


def get(path: str, headers: dict[str, str] | None = None, timeout: float = 10) -> Reply:
    """One GET on a fresh connection to nginx."""
    conn = http.client.HTTPConnection(HOST, HTTP_PORT, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        body = response.read()
        return Reply(response.status, response.getheader("X-Served-By", ""), body, response.msg)
    finally:
        conn.close()


def get_until(
    predicate, path: str, attempts: int, pause: float = 0.05, headers: dict | None = None
) -> list[Reply]:
    """GET `path` until predicate(replies so far) holds; at most `attempts` requests."""
    replies: list[Reply] = []
    for _ in range(attempts):
        replies.append(get(path, headers))
        if predicate(replies):
            return replies
        time.sleep(pause)
    raise AssertionError(f"not reached in {attempts} GETs of {path}: {Counter(_by(replies))}")


def _by(replies: list[Reply]) -> list[str]:
    return [reply.served_by for reply in replies]


class Load:
    """`threads` clients GETting `path` over keep-alive connections, as fast as nginx answers.

    Bounded twice: each client stops after `max_requests` or `seconds`, whichever comes first
    (or when the `with` block ends). Every failure -- an exception or a status other than 200 --
    is kept, with the time it happened.

    Like browsers, curl and urllib3 (RFC 9112, 9.3.1), a client sends a GET again, once, on a
    new connection when a kept-alive connection it reuses is closed before any response: the
    server may close an idle connection (nginx does on reload) just as a request leaves. Such
    retries are counted in `retried`; a failure on a new connection is a failure.
    """

    def __init__(self, path="/index.html", threads=4, seconds=30.0, max_requests=2000):
        self.path, self.seconds, self.max_requests = path, seconds, max_requests
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.served: list[tuple[float, str]] = []
        self.failures: list[tuple[float, str]] = []
        self.retried = 0
        self.threads = [threading.Thread(target=self._client, daemon=True) for _ in range(threads)]

    def __enter__(self) -> Load:
        self.started = time.monotonic()
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(self.seconds + 15)

    def _client(self) -> None:
        deadline = self.started + self.seconds
        conn: http.client.HTTPConnection | None = None
        for _ in range(self.max_requests):
            if self.stop.is_set() or time.monotonic() > deadline:
                break
            reused = conn is not None
            conn, outcome = self._get(conn)
            if outcome[0] == 0 and reused and _closed_unanswered(outcome[1]):
                with self.lock:
                    self.retried += 1
                conn, outcome = self._get(None)
            self._record(outcome)
        if conn is not None:
            conn.close()

    def _get(self, conn):
        """One GET: (the connection to reuse or None, (status or 0, X-Served-By or error))."""
        try:
            if conn is None:
                conn = http.client.HTTPConnection(HOST, HTTP_PORT, timeout=15)
            conn.request("GET", self.path)
            response = conn.getresponse()
            response.read()
            outcome = (response.status, response.getheader("X-Served-By", ""))
            if not response.will_close:
                return conn, outcome
        except (OSError, http.client.HTTPException) as exc:
            outcome = (0, f"{type(exc).__name__}: {exc}")
        if conn is not None:
            conn.close()
        return None, outcome

    def _record(self, outcome: tuple[int, str]) -> None:
        with self.lock:
            now = time.monotonic() - self.started
            if outcome[0] == 200:
                self.served.append((now, outcome[1]))
            else:
                self.failures.append((now, f"{outcome[0]} {outcome[1]}"))

    @property
    def count(self) -> int:
        with self.lock:
            return len(self.served) + len(self.failures)

    def wait_for(self, requests: int, timeout: float = 20) -> None:
        """Until `requests` have been answered (bounded by `timeout`)."""
        deadline = time.monotonic() + timeout
        while self.count < requests:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {self.count} requests answered in {timeout:g}s")
            time.sleep(0.05)

    def now(self) -> float:
        return time.monotonic() - self.started

    def by_replica(self, since: float = 0.0) -> Counter:
        with self.lock:
            return Counter(name for at, name in self.served if at >= since)


def _closed_unanswered(error: str) -> bool:
    """The error of a request that got no response byte because the connection was closed."""
    return error.startswith(("RemoteDisconnected", "ConnectionResetError", "BrokenPipeError"))
