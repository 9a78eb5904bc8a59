"""The FTP load generator: a small blocking client, the same for every server.

Passive mode, binary type, anonymous login; data connections always go to 127.0.0.1 whatever
address a PASV reply names. Every socket has a timeout, every loop a count.

FTPS goes through the standard library's own client, `ftplib.FTP_TLS` (AUTH TLS, login, PBSZ 0,
PROT P), not verifying the throwaway certificate. It does not offer the control connection's
TLS session on data connections, so every server does one full handshake per transfer.
"""

from __future__ import annotations

import ftplib
import re
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from . import tls

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
        return _timed(lambda: client.retr(name), size)
    finally:
        client.close()


def _timed(retr: Callable[[], int], size: int) -> float:
    """MiB/s of one download; an error if it did not bring exactly `size` bytes."""
    start = time.perf_counter()
    got = retr()
    elapsed = time.perf_counter() - start
    if got != size:
        raise FTPError(f"RETR got {got} bytes of {size}")
    return size / 2**20 / elapsed


def tls_login(port: int, timeout: float = 30.0) -> ftplib.FTP_TLS:
    """An FTPS session ready to transfer: AUTH TLS, anonymous login, PROT P, TYPE I."""
    ftp = ftplib.FTP_TLS(context=tls.unverified(), timeout=timeout)
    try:
        ftp.connect(HOST, port)
        ftp.auth()
        ftp.login()
        ftp.prot_p()
        ftp.voidcmd("TYPE I")
    except BaseException:
        ftp.close()
        raise
    return ftp


def tls_retr(ftp: ftplib.FTP_TLS, name: str) -> tuple[int, str]:
    """Download `name` over a protected data connection: (bytes, its TLS version and cipher)."""
    with ftp.transfercmd(f"RETR {name}") as data:
        got = _drain(data)
        negotiated = f"{data.version()} {data.cipher()[0]}"
        data.unwrap()  # close_notify back, as ftplib's own retrbinary does
    ftp.voidresp()
    return got, negotiated


def retr_tls_rate(port: int, name: str, size: int) -> float:
    """One RETR over FTPS: MiB/s from the command (and its data handshake) to the final reply."""
    ftp = tls_login(port, timeout=60)
    try:
        return _timed(lambda: tls_retr(ftp, name)[0], size)
    finally:
        ftp.close()


def tls_session(port: int, name: str) -> str:
    """The FTPS check: one small RETR, then QUIT; the data connection's TLS version and cipher."""
    ftp = tls_login(port)
    try:
        _, negotiated = tls_retr(ftp, name)
        ftp.quit()
    finally:
        ftp.close()
    return negotiated


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
