"""The FTP load generator: a small blocking client, the same for every server.

Passive mode, binary type, anonymous login; data connections always go to 127.0.0.1 whatever
address a PASV reply names. Every socket has a timeout, every loop a count.
"""

from __future__ import annotations

import re
import socket
import time
from concurrent.futures import ThreadPoolExecutor

HOST = "127.0.0.1"
_PASV = re.compile(rb"(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)")
_MAX_REPLY_LINES = 100


class FTPError(Exception):
    pass


class Client:
    def __init__(self, port: int, timeout: float = 30.0):
        self.timeout = timeout
        self.sock = socket.create_connection((HOST, port), timeout)
        self.file = self.sock.makefile("rb")
        self.expect(220)

    def reply(self) -> tuple[int, bytes]:
        """One (possibly multi-line) reply: its code and its last line."""
        line = self.file.readline(8192)
        if len(line) < 4 or not line[:3].isdigit():
            raise FTPError(f"bad reply {line!r}")
        code = line[:3]
        for _ in range(_MAX_REPLY_LINES):
            if line[:3] == code and line[3:4] == b" ":
                return int(code), line
            line = self.file.readline(8192)
            if not line:
                break
        raise FTPError(f"unterminated reply {code!r}")

    def expect(self, *codes: int) -> int:
        code, line = self.reply()
        if code not in codes:
            raise FTPError(f"expected {codes}, got {line!r}")
        return code

    def command(self, line: str, *codes: int) -> int:
        self.sock.sendall(line.encode() + b"\r\n")
        return self.expect(*codes)

    def login(self) -> None:
        if self.command("USER anonymous", 230, 331) == 331:
            self.command("PASS bench@example.org", 230)
        self.command("TYPE I", 200)

    def retr(self, name: str) -> int:
        """Download `name`; the number of bytes received."""
        self.sock.sendall(b"PASV\r\n")
        code, line = self.reply()
        match = _PASV.search(line)
        if code != 227 or not match:
            raise FTPError(f"PASV: {line!r}")
        port = int(match.group(5)) * 256 + int(match.group(6))
        with socket.create_connection((HOST, port), self.timeout) as data:
            self.command(f"RETR {name}", 125, 150)
            got = _drain(data)
        self.expect(226, 250)
        return got

    def quit(self) -> None:
        try:
            self.command("QUIT", 221)
        finally:
            self.close()

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def _drain(sock: socket.socket) -> int:
    buf = bytearray(1 << 20)
    view, total = memoryview(buf), 0
    while True:
        n = sock.recv_into(view)
        if not n:
            return total
        total += n


def retr_rate(port: int, name: str, size: int) -> float:
    """One RETR of `name` (`size` bytes): MiB/s from the command to the final reply."""
    client = Client(port, timeout=60)
    try:
        client.login()
        start = time.perf_counter()
        got = client.retr(name)
        elapsed = time.perf_counter() - start
    finally:
        client.close()
    if got != size:
        raise FTPError(f"RETR got {got} bytes of {size}")
    return size / 2**20 / elapsed


def session(port: int, name: str) -> int:
    """A short session: greeting, login, one small RETR, QUIT; the bytes received."""
    client = Client(port)
    try:
        client.login()
        got = client.retr(name)
        client.quit()
    finally:
        client.close()
    return got


def sessions_rate(port: int, name: str, count: int, concurrency: int) -> tuple[float, int]:
    """`count` short sessions, `concurrency` at a time: (sessions per second, failures)."""
    failures = 0
    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        futures = [pool.submit(session, port, name) for _ in range(count)]
        for future in futures:
            try:
                future.result(timeout=120)
            except (OSError, FTPError, TimeoutError):
                failures += 1
    elapsed = time.perf_counter() - start
    return (count - failures) / elapsed, failures
