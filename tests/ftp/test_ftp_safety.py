"""Every safety promise of the FTP service, under every model: the exact reply, and that nothing
leaked (no byte of a file outside the root, no connection to a third party, no temporary file)
and nothing broke (the session or the server keeps serving)."""

from __future__ import annotations

import contextlib
import os
import resource
import socket
import struct
import time

import pytest
from ftp_support import (
    BLOB,
    Site,
    check_replies,
    ftp,
    make_tree,
    make_users,
    open_data,
    recv_all,
    reply,
    retr,
    start_ftp,
    stop_clean,
    stor,
    temp_files,
)

from harness import MODELS, wait_for

PASSIVE = range(47000, 47050)
MASQUERADE = "203.0.113.7"  # TEST-NET-3: what a load balancer's public address looks like
FILE_LIMIT = 1024 * 1024  # RLIMIT_FSIZE stands in for a full disk: bigger writes fail (EFBIG)


def _small_files() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))


@pytest.fixture(scope="module", params=MODELS)
def guarded(request, tmp_path_factory):
    """alice may write at the root, which holds symlinks out of it; timeouts are short."""
    base = tmp_path_factory.mktemp(f"ftp-safety-{request.param}")
    root = make_tree(base / "root")
    users = make_users(base / "users", root, root)
    server = start_ftp(
        request.param, "--root", str(root), "--anonymous", "--users", str(users),
        "--login-delay", "0.3", "--data-timeout", "1", "--timeout", "2",
        "--passive-ports", f"{PASSIVE.start}-{PASSIVE.stop - 1}", "--masquerade", MASQUERADE,
        preexec_fn=_small_files,
    )  # fmt: skip
    yield Site(server, root, root, root)
    stop_clean(server)
    assert (base / "secret.txt").read_bytes() == b"TOP SECRET\n"
    assert sorted(p.name for p in base.iterdir()) == ["root", "secret.txt", "users"]


def test_paths_never_leave_the_root(guarded):
    outside = "550 /out-dir leads outside the root."
    with ftp(guarded.server, "alice") as c:
        check_replies(c, [
            ("CWD ../../..", "250 Directory changed to /."),
            ("CWD out-dir", outside),
            ("SIZE ../secret.txt", "550 No such file or directory."),
            ("SIZE out-link", "550 /out-link leads outside the root."),
            ("MDTM out-dir/secret.txt", "550 /out-dir/secret.txt leads outside the root."),
            ("MLST out-link", "550 /out-link leads outside the root."),
            ("MKD out-dir/new", outside),
            ("RNFR out-dir/secret.txt", outside),
            ("DELE out-dir/secret.txt", outside),
            ("SIZE a.txt\0.png", "550 Path contains a NUL byte."),
            ("STAT out-dir", outside),
        ])  # fmt: skip
        for command in ("RETR out-link", "RETR ../../secret.txt", "LIST out-dir", "STOR out-dir/x"):
            with open_data(c) as conn:
                assert reply(c, command)[:4] == "550 ", command
                assert recv_all(conn) == b""  # the data connection closed with nothing sent
        assert "out-link" not in c.nlst() and "out-dir" not in c.nlst()
        # Acting on a link acts on the link itself: the file outside is never touched.
        assert stor(c, "out-link", b"replaced") == "226 Transfer complete."
        assert (guarded.root / "out-link").read_bytes() == b"replaced"
        assert c.sendcmd("DELE out-link") == "250 File /out-link removed."
        assert c.sendcmd("RNFR out-dir") == "350 Ready for destination name (RNTO)."
        assert c.sendcmd("RNTO moved-link") == "250 Renamed /out-dir to /moved-link."
        assert reply(c, "CWD moved-link") == "550 /moved-link leads outside the root."
        assert retr(c, "a.txt") == b"hello\n"


def test_active_mode_cannot_bounce_to_another_host_or_a_privileged_port(guarded):
    foreign = "501 Rejected: data connection to 127.0.0.2, not to your address."
    bad_port = "501 Syntax error: PORT h1,h2,h3,h4,p1,p2 (six numbers 0-255)."
    with socket.create_server(("127.0.0.2", 0)) as victim, ftp(guarded.server) as c:
        port = victim.getsockname()[1]
        check_replies(c, [
            (f"PORT 127,0,0,2,{port >> 8},{port & 255}", foreign),
            (f"EPRT |1|127.0.0.2|{port}|", foreign),
            ("PORT 127,0,0,1,0,21", "501 Rejected: data connection to privileged port 21."),
            ("EPRT |1|127.0.0.1|80|", "501 Rejected: data connection to privileged port 80."),
            ("PORT 1,2,3", bad_port),
            ("PORT 127,0,0,1,300,1", bad_port),
            ("EPRT |3|127.0.0.1|5000|", "522 Network protocol not supported, use (1,2)."),
            ("EPRT |2|127.0.0.1|5000|", "501 Syntax error: 127.0.0.1 is not an IPv6 address."),
            ("EPRT junk", "501 Syntax error: EPRT |protocol|address|port|."),
            ("RETR a.txt", "425 Use PASV, EPSV, PORT or EPRT first."),
        ])  # fmt: skip
        victim.settimeout(0.5)
        with pytest.raises(TimeoutError):
            victim.accept()  # nobody was sent anywhere
        with socket.create_server(("127.0.0.1", 0)) as closed:
            free = closed.getsockname()[1]
        c.sendcmd(f"PORT 127,0,0,1,{free >> 8},{free & 255}")
        assert reply(c, "RETR a.txt") == "425 Cannot open data connection: Connection refused."
        assert retr(c, "a.txt") == b"hello\n"


def test_passive_ports_masquerade_and_foreign_data_connections(guarded):
    with ftp(guarded.server) as c:
        c.voidcmd("TYPE I")
        pasv = reply(c, "PASV")
        assert pasv.startswith("227 Entering Passive Mode (203,0,113,7,")
        numbers = pasv.rpartition("(")[2].rstrip(").").split(",")
        assert int(numbers[4]) * 256 + int(numbers[5]) in PASSIVE
        epsv = reply(c, "EPSV")
        assert epsv.startswith("229 Entering Extended Passive Mode (|||")  # no address at all
        port = int(epsv.split("|")[3])
        assert port in PASSIVE
        with socket.socket() as intruder:
            intruder.bind(("127.0.0.2", 0))
            intruder.settimeout(10)
            intruder.connect((guarded.server.host, port))
            assert recv_all(intruder) == b""  # dropped without a byte
        with socket.create_connection((guarded.server.host, port), timeout=10) as conn:
            assert reply(c, "RETR a.txt")[:3] == "150"
            assert recv_all(conn) == b"hello\n"
        assert c.voidresp() == "226 Transfer complete."
        assert retr(c, "a.txt") == b"hello\n"  # ftplib's PASV ignores the advertised address
    wait_for(
        lambda: any("dropped a data connection from 127.0.0.2" in line
                    for line in guarded.server.lines),
        what="the drop to be logged",
    )  # fmt: skip


def test_failed_logins_are_delayed_then_cut_off(guarded):
    with ftp(guarded.server, user=None) as c:
        for attempt, name in enumerate(["alice", "mallory", "alice"]):
            assert reply(c, f"USER {name}")[:3] == "331"
            started = time.monotonic()
            c.sock.sendall(b"PASS wrong\r\nNOOP\r\n")  # the NOOP waits behind the delay
            assert c.getmultiline() == "530 Login incorrect."
            assert time.monotonic() - started >= 0.3
            if attempt < 2:
                assert c.getmultiline() == "200 NOOP okay."
        assert c.getmultiline() == "421 Too many failed logins; closing control connection."
        assert c.file.readline() == ""  # closed
    with ftp(guarded.server, "alice") as c:
        assert c.sendcmd("PWD") == '257 "/" is the current directory.'


def test_overlong_command_lines_get_500(guarded):
    too_long = "500 Command line too long (at most 2048 bytes)."
    with ftp(guarded.server) as c:
        c.sock.sendall(b"NOOP " + b"x" * 2100 + b"\r\n")
        assert c.getmultiline() == too_long
        c.sock.sendall(b"CWD " + b"x" * 2044 + b"\r\n")  # exactly 2048 bytes: a command
        assert c.getmultiline() == "550 File name too long."
        c.sock.sendall(b"y" * 5000)  # no line end in sight: answered at once, once
        assert c.getmultiline() == too_long
        c.sock.sendall(b"y" * 5000 + b"\r\nNOOP\r\n")
        assert c.getmultiline() == "200 NOOP okay."


def test_idle_control_connection_is_closed(guarded):
    with ftp(guarded.server) as c:
        started = time.monotonic()
        assert c.getmultiline() == "421 Idle for 2s; closing control connection."
        assert time.monotonic() - started >= 1.9
        assert c.file.readline() == ""


def test_data_connection_timeouts(guarded):
    with ftp(guarded.server, "alice") as c:
        c.voidcmd("TYPE I")
        assert reply(c, "EPSV")[:3] == "229"
        started = time.monotonic()
        assert reply(c, "RETR a.txt") == "425 No data connection within 1s."
        assert time.monotonic() - started >= 0.5
        with open_data(c) as conn:
            assert reply(c, "STOR stall.bin")[:3] == "150"
            conn.sendall(b"some bytes, then silence")
            assert c.getmultiline() == "426 Data connection timed out; transfer aborted."
        assert not (guarded.root / "stall.bin").exists()
        assert temp_files(guarded.root) == []
        assert retr(c, "a.txt") == b"hello\n"


def test_failed_uploads_leave_the_old_file_and_no_temporary(guarded):
    keep = guarded.root / "keep.bin"
    keep.write_bytes(b"previous")
    with ftp(guarded.server, "alice") as c:
        c.voidcmd("TYPE I")
        with open_data(c) as conn:  # the disk fills up
            assert reply(c, "STOR keep.bin")[:3] == "150"
            try:
                conn.sendall(BLOB)
            except ConnectionError:
                pass  # the server cut the data connection when the disk refused
            assert c.getmultiline() == (
                "452 Insufficient storage space: File too large; upload discarded."
            )
        assert keep.read_bytes() == b"previous" and temp_files(guarded.root) == []
        with open_data(c) as conn:  # the client's data connection breaks
            assert reply(c, "STOR keep.bin")[:3] == "150"
            conn.sendall(b"x" * 100_000)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        assert c.getmultiline() == "426 Data connection lost; transfer aborted."
        assert keep.read_bytes() == b"previous" and temp_files(guarded.root) == []
    with ftp(guarded.server, "alice") as c:  # the client vanishes mid-upload
        c.voidcmd("TYPE I")
        conn = open_data(c)
        assert reply(c, "STOR keep.bin")[:3] == "150"
        conn.sendall(b"x" * 100_000)
        wait_for(lambda: temp_files(guarded.root), what="the upload to start")
    with conn:  # held open: a close now could reach the server first and end the upload
        wait_for(lambda: not temp_files(guarded.root), what="the temporary file to go")
    assert keep.read_bytes() == b"previous"


def test_a_file_that_shrinks_mid_download_is_reported_not_padded(guarded):
    shrinking = guarded.root / "shrinking.bin"
    with open(shrinking, "wb") as f:
        f.truncate(64 * 1024 * 1024)
    with ftp(guarded.server) as c:
        c.voidcmd("TYPE I")
        with c.transfercmd("RETR shrinking.bin") as conn:
            got = len(conn.recv(1 << 16))
            os.truncate(shrinking, 100_000)
            got += len(recv_all(conn))
        assert c.getmultiline() == ("451 Transfer failed: file ended before the promised length.")
        assert got < 64 * 1024 * 1024
        assert retr(c, "a.txt") == b"hello\n"


# -- connection limits: their own servers --------------------------------------------------
def _greet(server, source: str) -> tuple[socket.socket, str]:
    sock = socket.socket()
    sock.bind((source, 0))
    sock.settimeout(10)
    sock.connect((server.host, server.port))
    return sock, sock.makefile("rb").readline().decode().rstrip("\r\n")


def _refused(server, source: str) -> str:
    sock, line = _greet(server, source)
    with sock:
        assert recv_all(sock) == b""  # and closed
    return line


@pytest.mark.parametrize("model", MODELS)
def test_connection_limits_span_every_process(model, tmp_path):
    """Counted in a table shared by every process (fork children, prefork workers)."""
    root = make_tree(tmp_path / "root")
    server = start_ftp(model, "--root", str(root), "--anonymous", "--max-connections", "3",
                       "--max-per-ip", "2")  # fmt: skip
    held: list[socket.socket] = []
    try:
        if model == "iterative":  # one client at a time: the next waits in the backlog
            first, greeting = _greet(server, "127.0.0.1")
            held.append(first)
            assert greeting == "220 FTP server ready."
            waiting = socket.create_connection((server.host, server.port), timeout=0.5)
            held.append(waiting)
            with pytest.raises(TimeoutError):
                waiting.recv(100)
            first.sendall(b"QUIT\r\n")
            first.close()  # (the server lingers for our FIN before taking the next client)
            waiting.settimeout(10)
            assert waiting.recv(100) == b"220 FTP server ready.\r\n"
            return
        for source in ("127.0.0.1", "127.0.0.1"):
            sock, greeting = _greet(server, source)
            held.append(sock)
            assert greeting == "220 FTP server ready."
        assert _refused(server, "127.0.0.1") == (
            "421 Too many connections from your address (at most 2)."
        )
        sock, greeting = _greet(server, "127.0.0.2")
        held.append(sock)
        assert greeting == "220 FTP server ready."
        assert _refused(server, "127.0.0.3") == (
            "421 Too many connections (at most 3); try again later."
        )
        held.pop(0).close()  # a place frees up once the server sees the close
        wait_for(lambda: _retry_greeting(server, held), what="a freed slot")
    finally:
        for sock in held:
            sock.close()
        stop_clean(server)


def _retry_greeting(server, held: list) -> bool:
    sock, greeting = _greet(server, "127.0.0.1")
    held.append(sock)
    return greeting == "220 FTP server ready."


@pytest.mark.parametrize("model", ["fork", "prefork"])
def test_a_killed_process_frees_its_places(model, tmp_path):
    """SIGKILL skips every clean-up; the dead owner's slot is reclaimed when needed."""
    root = make_tree(tmp_path / "root")
    server = start_ftp(model, "--root", str(root), "--anonymous", "--max-connections", "1")
    try:
        first, greeting = _greet(server, "127.0.0.1")
        assert greeting == "220 FTP server ready."
        assert _refused(server, "127.0.0.1").startswith("421 Too many connections")
        for pid, state in server.descendants():  # fork: the child serving `first`; prefork: workers
            if state != "Z":
                with contextlib.suppress(ProcessLookupError):  # the refused client's child may
                    os.kill(pid, 9)  # have exited (and been reaped) since the listing
        assert recv_all(first) == b""
        wait_for(lambda: _retry_greeting(server, [first]), what="the slot to be reclaimed")
    finally:
        first.close()
        stop_clean(server)
