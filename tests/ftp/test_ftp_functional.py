"""The FTP service under every model, with ftplib: replies, listings, transfers in every data
mode, uploads, folders, UTF-8 names, ABOR. One server per model serves the whole module."""

from __future__ import annotations

import ftplib
import io
import os
import socket
import stat

from ftp_support import (
    BLOB,
    UNICODE_NAME,
    check_replies,
    ftp,
    listing,
    open_data,
    recv_all,
    reply,
    retr,
    stor,
    temp_files,
)


def test_session_commands_and_their_replies(site):
    with ftp(site.server, user=None) as c:
        assert c.getwelcome() == "220 FTP server ready."
        expected = {
            "NOOP": "200 NOOP okay.",
            "SYST": "215 UNIX Type: L8",
            "PWD": "530 Log in with USER and PASS first.",
            "FOO bar": "500 Command 'FOO' not understood.",
            "PASS x": "503 Bad sequence of commands: send USER first.",
            "OPTS UTF8 ON": "200 Always in UTF8 mode.",
            "HELP RETR": "214 Syntax: RETR <path>: download a file.",
            "AUTH TLS": "502 AUTH not available: this server has no certificate.",
            "PBSZ 0": "503 PBSZ needs a protected control connection: AUTH TLS first.",
        }
        check_replies(c, expected.items())
        feat = reply(c, "FEAT").splitlines()
        assert feat[0] == "211-Features supported:" and feat[-1] == "211 End FEAT."
        assert {" EPSV", " EPRT", " REST STREAM", " SIZE", " MDTM", " UTF8"} <= set(feat)
        assert " AUTH TLS" not in feat  # no certificate, no TLS to offer
        c.login()
        expected = {
            "PWD": '257 "/" is the current directory.',
            "PWD x": "501 Syntax error: PWD takes no argument.",
            "CWD": "501 Syntax error: CWD needs an argument (CWD <path>: change the current "
            "folder.)",
            "TYPE I": "200 Type set to I (binary).",
            "TYPE E": "504 Type E not supported; use A or I.",
            "TYPE A": "200 Type set to A (ASCII).",
            "MODE S": "200 Mode set to S (stream).",
            "MODE B": "504 Only stream mode (MODE S) is supported.",
            "STRU F": "200 Structure set to F (file).",
            "STRU R": "504 Only file structure (STRU F) is supported.",
            "ALLO 100": "202 No storage allocation necessary.",
            "OPTS MLST size;type;bogus;": "200 MLST OPTS type;size;",
            "OPTS FOO": "501 OPTS FOO not understood; try UTF8 or MLST.",
            "USER bob": "503 Already logged in as anonymous.",
            "XPWD": '257 "/" is the current directory.',
            "ABOR": "225 No transfer to abort.",
            "RETR a.txt": "425 Use PASV, EPSV, PORT or EPRT first.",
        }
        check_replies(c, expected.items())
        status = reply(c, "STAT").splitlines()
        assert status[0] == "211-FTP server status:" and status[-1] == "211 End of status."
        assert " Logged in as anonymous" in status
        assert c.quit() == "221 Goodbye."


def test_logins(site):
    for user, password, answer in [
        ("alice", "alice-secret", "230 User alice logged in."),
        ("bob", "bob-secret", "230 User bob logged in."),
        ("anonymous", "me@example.com", "230 Anonymous access granted, restrictions apply."),
        ("alice", "wrong", "530 Login incorrect."),
        ("mallory", "alice-secret", "530 Login incorrect."),
    ]:
        with ftp(site.server, user=None) as c:
            assert reply(c, f"USER {user}")[:3] == "331"
            assert reply(c, f"PASS {password}") == answer


def test_listings(site):
    with ftp(site.server) as c:
        long = listing(c, "LIST")
        names = {line.split(None, 8)[8]: line for line in long}
        # in-link points inside the root: shown as its target; links out are not shown at all
        assert set(names) == {
            "a.txt", "blob.bin", "lines.txt", UNICODE_NAME, "sub", "empty", "in-link",
            "huge.bin",
        }  # fmt: skip
        assert names["a.txt"].startswith("-rw") and names["a.txt"].split()[4] == "6"
        assert names["sub"].startswith("d")
        assert names["in-link"].startswith("-") and names["in-link"].split()[4] == "6"
        assert listing(c, "LIST -la") == long
        assert sorted(c.nlst()) == sorted(names)
        assert c.nlst("sub") == ["b.txt", "deeper"]
        (line,) = listing(c, "LIST sub/b.txt")
        assert line.startswith("-rw") and line.split()[4] == "6" and line.endswith(" b.txt")
        facts = dict(c.mlsd("sub"))
        assert facts["b.txt"]["type"] == "file" and facts["b.txt"]["size"] == "6"
        assert facts["deeper"]["type"] == "dir" and facts["deeper"]["perm"] == "el"
        assert facts["b.txt"]["perm"] == "r" and len(facts["b.txt"]["modify"]) == 14
        mlst = reply(c, "MLST /sub/b.txt").splitlines()
        assert mlst[0] == "250-Listing /sub/b.txt" and mlst[-1] == "250 End."
        assert mlst[1].startswith(" type=file;size=6;modify=") and mlst[1].endswith(" /sub/b.txt")
        with open_data(c):
            assert reply(c, "MLSD a.txt") == "501 /a.txt is not a directory; use MLST for one file."
        assert listing(c, "LIST empty") == []
        stat_lines = reply(c, "STAT sub").splitlines()
        assert stat_lines[0] == "213-Status of /sub:" and stat_lines[-1] == "213 End of status."
        assert any(line.endswith(" b.txt") for line in stat_lines)
        with open_data(c):
            assert reply(c, "LIST nowhere") == "550 No such file or directory."


def _active(c: ftplib.FTP, command: str) -> bytes:
    """EPRT to a socket of ours, then receive what `command` sends on it."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(15)
        port = server.getsockname()[1]
        assert c.sendcmd(f"EPRT |1|127.0.0.1|{port}|") == "200 EPRT command successful."
        assert reply(c, command)[:3] == "150"
        conn, _ = server.accept()
        with conn:
            data = recv_all(conn)
    assert c.voidresp() == "226 Transfer complete."
    return data


def _epsv(c: ftplib.FTP, command: str) -> bytes:
    with open_data(c) as conn:
        assert reply(c, command)[:3] == "150"
        data = recv_all(conn)
    assert c.voidresp() == "226 Transfer complete."
    return data


def test_download_in_every_data_mode(site):
    with ftp(site.server) as c:
        assert retr(c, "blob.bin") == BLOB  # PASV
        c.set_pasv(False)
        assert retr(c, "blob.bin") == BLOB  # PORT
        c.set_pasv(True)
        c.voidcmd("TYPE I")
        assert _epsv(c, "RETR blob.bin") == BLOB
        assert _active(c, "RETR blob.bin") == BLOB
        assert _active(c, "LIST sub").endswith(b" deeper\r\n")
        assert retr(c, f"/sub/../{UNICODE_NAME}") == "ünïcödé\n".encode()
        assert retr(c, "in-link") == b"hello\n"
        assert c.sendcmd("NOOP") == "200 NOOP okay."


def test_ascii_mode_sends_crlf(site):
    with ftp(site.server) as c:
        lines: list[str] = []
        c.retrlines("RETR lines.txt", lines.append)
        assert lines == ["one", "two", "three"]
        c.voidcmd("TYPE A")
        assert _epsv(c, "RETR lines.txt") == b"one\r\ntwo\r\nthree\r\n"


def test_resumed_download(site):
    with ftp(site.server) as c:
        assert retr(c, "blob.bin", rest=1_000_003) == BLOB[1_000_003:]
        assert retr(c, "blob.bin", rest=len(BLOB)) == b""
        assert reply(c, "REST x") == "501 Syntax error: REST needs a byte offset (a number >= 0)."
        assert c.sendcmd("REST 7") == "350 Restarting at 7; send RETR or STOR."
        with open_data(c):
            assert reply(c, "RETR a.txt") == "554 Invalid REST 7: /a.txt has 6 bytes."
        assert c.sendcmd("SIZE blob.bin") == f"213 {len(BLOB)}"
        assert reply(c, "SIZE sub") == "550 /sub: not a regular file."
        assert c.sendcmd("MDTM a.txt")[:4] == "213 "


def test_uploads_replace_append_and_resume(site):
    with ftp(site.server, "alice") as c:
        assert stor(c, "new.bin", BLOB) == "226 Transfer complete."
        assert (site.alice / "new.bin").read_bytes() == BLOB
        os.chmod(site.alice / "new.bin", 0o640)
        stor(c, "new.bin", b"replaced")
        assert (site.alice / "new.bin").read_bytes() == b"replaced"
        assert stat.S_IMODE(os.stat(site.alice / "new.bin").st_mode) == 0o640
        stor(c, "new.bin", b" and appended", cmd="APPE")
        assert (site.alice / "new.bin").read_bytes() == b"replaced and appended"
        stor(c, "appended-new.bin", b"fresh", cmd="APPE")
        assert (site.alice / "appended-new.bin").read_bytes() == b"fresh"
        half = len(BLOB) // 2
        stor(c, "resumed.bin", BLOB[:half])
        stor(c, "resumed.bin", BLOB[half:], rest=half)
        assert (site.alice / "resumed.bin").read_bytes() == BLOB
        with open_data(c):
            c.sendcmd(f"REST {len(BLOB) + 1}")
            assert reply(c, "STOR resumed.bin") == (
                f"554 Invalid REST {len(BLOB) + 1}: /resumed.bin has {len(BLOB)} bytes."
            )
        c.storlines("STOR text.txt", io.BytesIO(b"x\r\ny\r\n"))
        assert (site.alice / "text.txt").read_bytes() == b"x\ny\n"
        assert reply(c, "STOR /") == "425 Use PASV, EPSV, PORT or EPRT first."
        with open_data(c):
            c.sendcmd("MKD folder")
            assert reply(c, "STOR folder") == "550 /folder: not a regular file."
    assert temp_files(site.alice) == []


def test_folders_and_renames(site):
    with ftp(site.server, "alice") as c:
        expected = [
            ("MKD work", '257 "/work" directory created.'),
            ("MKD work", "550 File exists."),
            ('MKD say "hi"', '257 "/say ""hi""" directory created.'),
            ("CWD work", "250 Directory changed to /work."),
            ("PWD", '257 "/work" is the current directory.'),
            ("MKD inner", '257 "/work/inner" directory created.'),
            ("CDUP", "250 Directory changed to /."),
            ("CWD /work/../work/./inner", "250 Directory changed to /work/inner."),
            ("CWD ../../../..", "250 Directory changed to /."),
            ("CWD nowhere", "550 No such file or directory."),
            ("RMD work", "550 Directory not empty."),
            ("RMD /", "550 Cannot remove the root directory."),
            ("RNTO x", "503 Bad sequence of commands: send RNFR first."),
            ("RNFR missing", "550 No such file or directory."),
            ("RNFR work/inner", "350 Ready for destination name (RNTO)."),
            ("RNTO moved", "250 Renamed /work/inner to /moved."),
            ("RNFR moved", "350 Ready for destination name (RNTO)."),
            ("NOOP", "200 NOOP okay."),
            ("RNTO again", "503 Bad sequence of commands: send RNFR first."),
            ("DELE moved", "550 /moved: Is a directory; use RMD."),
            ("RMD moved", "250 Directory /moved removed."),
            ("RMD work", "250 Directory /work removed."),
            ("DELE gone", "550 No such file or directory."),
        ]
        check_replies(c, expected)
        stor(c, "f.txt", b"data")
        assert c.sendcmd("DELE f.txt") == "250 File /f.txt removed."
        assert not (site.alice / "f.txt").exists()
        assert not (site.alice / "work").exists() and (site.alice / 'say "hi"').is_dir()


def test_utf8_names(site):
    name = "çà va ✓.txt"
    with ftp(site.server, "alice") as c:
        stor(c, name, "naïve\n".encode())
        assert (site.alice / name).read_bytes() == "naïve\n".encode()
        assert name in c.nlst()
        assert retr(c, name) == "naïve\n".encode()
        assert c.sendcmd(f"MKD {name}.d") == f'257 "/{name}.d" directory created.'
    with ftp(site.server) as c:
        assert UNICODE_NAME in c.nlst()


def test_read_only_accounts_change_nothing(site):
    before = {p: sorted(os.listdir(p)) for p in (site.root, site.bob)}
    for user in ("anonymous", "bob"):
        with ftp(site.server, user) as c:
            for line in [
                "STOR a.txt", "APPE a.txt", "DELE a.txt", "MKD new", "RMD sub", "RNFR a.txt",
                "RNTO b.txt",
            ]:  # fmt: skip
                assert reply(c, line) == "550 Permission denied: this account is read-only."
            assert retr(c, "a.txt" if user == "anonymous" else "bob.txt")
    assert {p: sorted(os.listdir(p)) for p in (site.root, site.bob)} == before
    assert (site.root / "a.txt").read_bytes() == b"hello\n"


def test_abort_a_download(site):
    with ftp(site.server) as c:
        c.voidcmd("TYPE I")
        conn = c.transfercmd("RETR huge.bin")
        with conn:
            got = 0
            while got < 1 << 20:
                got += len(conn.recv(1 << 16))
            # ftplib sends ABOR as urgent (MSG_OOB) data; it must still arrive in order.
            assert c.abort() == "426 Transfer aborted."
            assert c.getmultiline() == "226 ABOR command successful."
        assert c.sendcmd("NOOP") == "200 NOOP okay."
        assert retr(c, "a.txt") == b"hello\n"


def test_abort_an_upload_keeps_the_old_file(site):
    (site.alice / "keep.bin").write_bytes(b"previous")
    with ftp(site.server, "alice") as c:
        c.voidcmd("TYPE I")
        with c.transfercmd("STOR keep.bin") as conn:
            conn.sendall(BLOB[: 1 << 20])
            c.putcmd("ABOR")
            assert c.getmultiline() == "426 Transfer aborted."
            assert c.getmultiline() == "226 ABOR command successful."
        assert c.sendcmd("NOOP") == "200 NOOP okay."
    assert (site.alice / "keep.bin").read_bytes() == b"previous"
    assert temp_files(site.alice) == []


def test_commands_wait_for_the_transfer_in_flight(site):
    """A client may send its next command before the 226: it is answered after it, in order."""
    with ftp(site.server) as c:
        c.voidcmd("TYPE I")
        with open_data(c) as conn:
            c.sock.sendall(b"RETR blob.bin\r\nPWD\r\nNOOP\r\n")
            assert c.getmultiline()[:3] == "150"
            assert recv_all(conn) == BLOB
        assert c.getmultiline() == "226 Transfer complete."
        assert c.getmultiline() == '257 "/" is the current directory.'
        assert c.getmultiline() == "200 NOOP okay."
