"""Run the real server as a subprocess, as users do, and talk to it over real sockets.

`ServerProcess` starts `python -m server SERVICE --model M --bind ...` on port 0 (or a Unix
path), learns the bound address from the server's own start-up log line, and can stop it with
any signal. Every functional test goes through this, so every model is exercised the same way.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from server.models import MODELS as SERVER_MODELS

ROOT = Path(__file__).resolve().parent.parent
# Every model the server registers, so a new one runs every functional suite without an edit
# here; the blocking ones can also run a socketserver handler.
MODELS = list(SERVER_MODELS)
BLOCKING_MODELS = [name for name, cls in SERVER_MODELS.items() if cls.runs_blocking]
#: A model with flags that change how it serves, run by suites as a model of its own.
VARIANTS = {
    "prefork+reuse-port": ("prefork", ("--reuse-port",)),
    "prefork+affinity": ("prefork", ("--reuse-port", "--cpu-affinity")),  # pinned and steered
}
_READY = re.compile(r" on (unix:[^\s,]+|\[[^\]]*\]:\d+|[^\s:]+:\d+)[ ,]")
#: A serving process's start-up line (a prefork worker's; the master's says "prefork master").
_SERVING = re.compile(r" \((stream|datagram)\), model ")
_STARTED = re.compile(r"server\.model: worker \d+ started")


def variant(name: str) -> tuple[str, tuple[str, ...]]:
    """A model name or a variant's: (the model, its extra flags)."""
    return VARIANTS.get(name, (name, ()))


def _small_args(model: str, args: Sequence[str]) -> list[str]:
    """The flags a model declares to stay small here (prefork: 2 workers), unless given."""
    cls = SERVER_MODELS.get(model)
    small = list(cls.small) if cls else []
    given = {arg.split("=")[0] for arg in args if arg.startswith("--")}
    return [] if given & {arg for arg in small if arg.startswith("--")} else small


class ServerProcess:
    """One running server; use as a context manager so it is always stopped."""

    def __init__(
        self,
        service: str,
        model: str,
        bind: str = "127.0.0.1:0",
        args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        cwd: str | os.PathLike | None = None,
        preexec_fn=None,
        entry: Sequence[str] = ("-m", "server"),
    ):
        self.command = [
            sys.executable,
            *entry,  # or a script that runs server.cli.main (a test's own model registered)
            service,
            "--model",
            model,
            "--bind",
            bind,
            "--log-level",
            "info",
            *args,
        ]
        self.command += _small_args(model, args)
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
        self.cwd = cwd
        self.preexec_fn = preexec_fn
        self.lines: list[str] = []
        self.address: str = ""
        self.proc: subprocess.Popen | None = None

    # -- life -------------------------------------------------------------------------------
    def start(self, timeout: float = 15.0) -> ServerProcess:
        self.proc = subprocess.Popen(
            self.command,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            env=self.env,
            cwd=self.cwd,
            preexec_fn=self.preexec_fn,
        )
        self._reader = threading.Thread(target=self._read_log, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + timeout
        while not self.address:
            if self.proc.poll() is not None:
                self._reader.join(1)
                raise RuntimeError(f"server exited {self.proc.returncode}: {self.log()}")
            if time.monotonic() > deadline:
                self.kill()
                raise TimeoutError(f"server did not start: {self.log()}")
            time.sleep(0.02)
        if "--reuse-port" in self.command:  # the master holds the port but does not listen:
            self._wait_serving(deadline)  # connections are refused until a worker does
        return self

    def _wait_serving(self, deadline: float) -> None:
        """Until every worker started so far serves (the master forks them all at once)."""

        def serving() -> bool:
            started = sum(1 for line in self.lines if _STARTED.search(line))
            return 0 < started <= sum(1 for line in self.lines if _SERVING.search(line))

        while not serving():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise TimeoutError(f"no worker started serving: {self.log()}")
            time.sleep(0.02)

    def _read_log(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))
            match = _READY.search(line)
            if match and not self.address:
                self.address = match.group(1)

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def wait(self, timeout: float = 30.0) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(2)
        return code

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait; the exit status."""
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        try:
            if self.proc.poll() is None:
                self.stop(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()

    def log(self) -> str:
        return "\n".join(self.lines[-60:])

    # -- where it listens -------------------------------------------------------------------
    @property
    def host(self) -> str:
        return self.address.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.address.rpartition(":")[2])

    @property
    def path(self) -> str:
        return self.address[len("unix:") :]

    @property
    def family(self) -> int:
        if self.address.startswith("unix:"):
            return socket.AF_UNIX
        return socket.AF_INET6 if ":" in self.host else socket.AF_INET

    @property
    def sockaddr(self):
        return self.path if self.family == socket.AF_UNIX else (self.host, self.port)

    def connect(self, timeout: float = 10.0) -> socket.socket:
        sock = socket.socket(self.family, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(self.sockaddr)
        return sock

    # -- its processes ----------------------------------------------------------------------
    def descendants(self) -> list[tuple[int, str]]:
        """(pid, state) of every process below the server, from /proc."""
        parents: dict[int, list[tuple[int, str]]] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents.setdefault(int(fields[1]), []).append((int(entry), fields[0]))
        found, todo = [], [self.proc.pid]
        while todo:
            for child in parents.get(todo.pop(), []):
                found.append(child)
                todo.append(child[0])
        return found

    def threads(self) -> int:
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("Threads:"):
                    return int(line.split()[1])
        return 0


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    chunks, got = [], 0
    while got < size:
        chunk = sock.recv(min(65536, size - got))
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def http_get(server: ServerProcess, path: str = "/", timeout: float = 10.0) -> tuple[int, bytes]:
    """One HTTP/1.1 GET on its own connection, read to its close: (status, body)."""
    with server.connect(timeout) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def echo_concurrently(server: ServerProcess, clients: int = 8, lines: int = 5) -> None:
    """`clients` connections at once, each sending lines and reading each echoed back."""

    def client(n: int) -> None:
        with server.connect() as sock:
            for i in range(lines):
                line = f"client {n} line {i}\n".encode()
                sock.sendall(line)
                assert recv_exactly(sock, len(line)) == line

    run_concurrently(client, clients)


#: A WSGI app answering with the pid of the process that served it (which worker), and one
#: stuck in a loop at /spin.
PID_APP = """
import os

def app(environ, start_response):
    if environ["PATH_INFO"] == "/spin":
        while True:  # an application stuck in a loop
            pass
    body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"""


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05, what: str = "condition"):
    """Poll `predicate` until it returns a true value (bounded); return that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(interval)


def run_concurrently(client, count: int, timeout: float = 60.0) -> None:
    """Run `client(n)` for n in range(count) on threads; re-raise the first failure."""
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            client(n)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(thread.is_alive() for thread in threads), "a client did not finish in time"
    if errors:
        raise errors[0]


# -- the metrics listener (--metrics-listen 127.0.0.1:0) ---------------------------------------
_METRICS_LISTENER = re.compile(r"metrics listener: \S+:(\d+) \(GET /metrics\)")
_SAMPLE = re.compile(r"^([a-z_]+(?:\{[^}]*\})?) (\S+)$")


def metrics_port(server: ServerProcess) -> int:
    """The port of the server's metrics listener, from its start-up log line."""
    found = wait_for(
        lambda: next((m for m in map(_METRICS_LISTENER.search, server.lines) if m), None),
        10, what="the metrics listener's log line",
    )  # fmt: skip
    return int(found.group(1))


def raw_request(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """One raw HTTP request to 127.0.0.1:port, read until the server closes: status, headers,
    body."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    return int(status.split()[1]), dict(line.split(": ", 1) for line in lines), body


def scrape(port: int) -> dict[str, float]:
    """GET /metrics: each sample's name and labels (as written) -> value."""
    status, headers, body = raw_request(port, b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n")
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = (_SAMPLE.match(line) for line in body.decode().splitlines())
    return {m.group(1): float(m.group(2)) for m in samples if m}
