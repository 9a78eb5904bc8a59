"""FTP over IPv6, graceful shutdown in the middle of a transfer, and a client that does not read
its replies -- under every model, each with a server of its own (SIGTERM ends it)."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time

import pytest
from ftp_support import (
    BLOB,
    BUG_MARKERS,
    check_replies,
    ftp,
    make_tree,
    make_users,
    open_data,
    reply,
    retr,
    start_ftp,
    stop_clean,
    stor,
)

from harness import MODELS, wait_for


@pytest.fixture(params=MODELS)
def served(request, tmp_path):
    root = make_tree(tmp_path / "root")
    with open(root / "huge.bin", "wb") as f:
        f.truncate(64 * 1024 * 1024)
    users = make_users(tmp_path / "users", root, root)
    server = start_ftp(request.param, "--bind", "[::1]:0", "--root", str(root), "--anonymous",
                       "--users", str(users))  # fmt: skip
    yield server, root, request.param
    server.kill()
    assert not [line for line in server.lines if any(m in line for m in BUG_MARKERS)]


def test_ipv6_and_graceful_shutdown_mid_transfer(served):
    server, root, model = served
    with ftp(server, "alice") as c:  # ftplib uses EPSV and EPRT over IPv6
        assert retr(c, "blob.bin") == BLOB
        c.set_pasv(False)
        stor(c, "v6.bin", BLOB)
        assert (root / "v6.bin").read_bytes() == BLOB
        c.set_pasv(True)
        check_replies(c, [
            ("PASV", "425 PASV needs IPv4; use EPSV."),
            ("EPSV 1", "522 Network protocol not supported, use (2)."),
            ("EPRT |1|127.0.0.1|5000|", "501 Rejected: data connection to 127.0.0.1, not to "
                                        "your address."),
        ])  # fmt: skip
    with contextlib.ExitStack() as stack:
        # iterative serves one client at a time: it has no idle session beside the busy one
        idle = None if model == "iterative" else stack.enter_context(ftp(server))
        busy = stack.enter_context(ftp(server))
        busy.voidcmd("TYPE I")
        conn = busy.transfercmd("RETR huge.bin")
        received = len(conn.recv(1 << 16))
        server.signal(signal.SIGTERM)  # the transfer in flight finishes; then the session ends
        if idle is not None:
            assert idle.getmultiline() == "421 Server shutting down; closing control connection."
        while chunk := conn.recv(1 << 20):
            received += len(chunk)
        conn.close()
        assert received == 64 * 1024 * 1024
        assert busy.getmultiline() == "226 Transfer complete."
        assert busy.getmultiline() == "421 Server shutting down; closing control connection."
    assert server.wait(20) == 0, server.log()


@pytest.mark.parametrize("model", ["epoll", "fork"])
def test_a_client_that_does_not_read_its_replies(model, tmp_path):
    root = make_tree(tmp_path / "root")
    server = start_ftp(model, "--root", str(root), "--anonymous")
    count = 100_000
    try:
        with ftp(server) as c:
            sender = threading.Thread(target=c.sock.sendall, args=(b"NOOP\r\n" * count,))
            sender.start()  # 600 kB of commands, 1.6 MB of replies: both sides fill up
            replies = [c.file.readline() for _ in range(count)]
            sender.join()
            assert set(replies) == {"200 NOOP okay.\n"}  # ftplib reads text: CRLF is a newline
            assert reply(c, "PWD") == '257 "/" is the current directory.'
    finally:
        stop_clean(server)


def _descriptors(server) -> int:
    """Open descriptors over the server's whole process tree."""
    pids = [server.proc.pid] + [pid for pid, _ in server.descendants()]
    total = 0
    for pid in pids:
        try:
            total += len(os.listdir(f"/proc/{pid}/fd"))
        except FileNotFoundError:
            pass  # a fork child that just ended
    return total


def _steady(server) -> int:
    """The descriptor count, once it has stopped moving (fork children come and go)."""
    first = _descriptors(server)
    time.sleep(0.3)
    return first if _descriptors(server) == first else 0


def _busy_session(server) -> None:
    with ftp(server) as c:
        assert retr(c, "blob.bin") == BLOB
        c.nlst()
        c.voidcmd("TYPE I")
        with c.transfercmd("RETR huge.bin") as conn:
            conn.recv(1 << 16)
            c.abort()
        c.voidresp()
        with open_data(c) as conn:  # the server's side of it still waits for our FIN ...
            c.sendcmd("RETR a.txt")
            assert c.voidresp() == "226 Transfer complete."
            c.sendcmd("EPSV")  # ... and a listening data socket is left open ...
            assert c.sendcmd("QUIT") == "221 Goodbye."  # ... when the session ends


def test_sessions_leave_no_descriptor_behind(served):
    server, _, _ = served
    _busy_session(server)  # warm-up: lazily opened things are not leaks
    before = wait_for(lambda: _steady(server), what="a steady count")
    for _ in range(5):
        _busy_session(server)
    wait_for(lambda: _descriptors(server) == before, timeout=15, what="descriptors to return")
    server.stop()
