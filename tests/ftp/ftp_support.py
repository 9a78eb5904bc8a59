"""Helpers for the FTP suites: a served tree, a users file made by the real CLI, real clients.

Every FTP server in the tests is the real `python -m server ftp` subprocess (harness), talked to
with ftplib, curl or lftp over loopback.
"""

from __future__ import annotations

import contextlib
import ftplib
import io
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from harness import ROOT, ServerProcess
from server.protocols.ftp.authorizer import Account, hash_password, write_users

PASSWORDS = {"alice": "alice-secret", "bob": "bob-secret"}
BLOB = os.urandom(3 * 1024 * 1024 + 17)  # odd size: partial chunks at every layer
UNICODE_NAME = "grüße €.txt"
HUGE = 256 * 1024 * 1024  # sparse: costs no disk, and cannot fit in socket buffers
#: Log lines that mean a bug was caught by a safety net (the transport, the loop).
BUG_MARKERS = ("unhandled error", "protocol error", "Traceback")


def make_tree(root: Path) -> Path:
    """The folder the server shares, with a secret beside it that must never be reachable."""
    root.mkdir(parents=True)
    (root / "a.txt").write_bytes(b"hello\n")
    (root / "blob.bin").write_bytes(BLOB)
    (root / "lines.txt").write_bytes(b"one\ntwo\r\nthree\n")
    (root / UNICODE_NAME).write_bytes("ünïcödé\n".encode())
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "sub" / "b.txt").write_bytes(b"inner\n")
    (root / "empty").mkdir()
    secret = root.parent / "secret.txt"
    secret.write_bytes(b"TOP SECRET\n")
    os.symlink(secret, root / "out-link")
    os.symlink(root.parent, root / "out-dir")
    os.symlink(root / "a.txt", root / "in-link")
    return root


def run_cli(*args: str, stdin: str | None = None, env: dict | None = None):
    return subprocess.run(
        [sys.executable, "-m", "server", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )


def make_users(path: Path, alice_home: Path, bob_home: Path) -> Path:
    """alice: read-write; bob: read-only. (test_ftp_users.py drives the `ftp-user` CLI.)"""
    accounts = {
        name: Account(name, hash_password(PASSWORDS[name]), write, str(home))
        for name, home, write in (("alice", alice_home, True), ("bob", bob_home, False))
    }
    write_users(str(path), accounts)
    return path


def start_ftp(model: str, *args: str, preexec_fn=None) -> ServerProcess:
    return ServerProcess("ftp", model, args=list(args), preexec_fn=preexec_fn).start()


def stop_clean(server: ServerProcess) -> None:
    """Stop a server; fail if a bug was logged along the way or it did not exit cleanly."""
    try:
        status = server.stop(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
        raise AssertionError(f"server did not stop:\n{server.log()}") from None
    bugs = [line for line in server.lines if any(m in line for m in BUG_MARKERS)]
    assert not bugs, "\n".join(bugs[:5])
    assert status == 0, server.log()


@contextlib.contextmanager
def ftp(server: ServerProcess, user: str | None = "anonymous", timeout: float = 15):
    """A logged-in ftplib client (user None: connected only), always closed."""
    client = ftplib.FTP()
    client.connect(server.host, server.port, timeout=timeout)
    try:
        if user == "anonymous":
            client.login()
        elif user is not None:
            client.login(user, PASSWORDS[user])
        yield client
    finally:
        client.close()


def retr(client: ftplib.FTP, path: str, rest: int | None = None) -> bytes:
    out = io.BytesIO()
    client.retrbinary(f"RETR {path}", out.write, rest=rest)
    return out.getvalue()


def stor(client: ftplib.FTP, path: str, data: bytes, cmd: str = "STOR", rest=None) -> str:
    return client.storbinary(f"{cmd} {path}", io.BytesIO(data), rest=rest)


def listing(client: ftplib.FTP, command: str) -> list[str]:
    lines: list[str] = []
    client.retrlines(command, lines.append)
    return lines


def reply(client: ftplib.FTP, line: str) -> str:
    """Send a raw command; its reply, whatever the code (ftplib raises on 4xx/5xx)."""
    client.putcmd(line)
    return client.getmultiline()


def temp_files(folder: Path) -> list[str]:
    """Upload temporaries left anywhere below `folder` (there must never be any)."""
    return [name for _, _, names in os.walk(folder) for name in names if ".ftp-upload-" in name]


def open_data(client: ftplib.FTP) -> socket.socket:
    """EPSV, then connect to the port it names: a raw data connection."""
    port = int(reply(client, "EPSV").split("|")[3])
    return socket.create_connection((client.sock.getpeername()[0], port), timeout=15)


def recv_all(sock: socket.socket) -> bytes:
    """Everything until the peer closes (a reset counts as a close)."""
    chunks = []
    try:
        while chunk := sock.recv(1 << 16):
            chunks.append(chunk)
    except ConnectionResetError:
        pass
    return b"".join(chunks)


def check_replies(client: ftplib.FTP, table) -> None:
    """Each (command line, exact reply) in order."""
    for line, answer in table:
        assert reply(client, line) == answer, line


@dataclass
class Site:
    server: ServerProcess
    root: Path  # anonymous users' root
    alice: Path  # alice's home (read-write)
    bob: Path  # bob's home (read-only)
