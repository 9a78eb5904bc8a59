"""The FTP package's parts on their own: the gate, addresses, formats, hashes, limits, uploads."""

from __future__ import annotations

import os
import stat
import time

import pytest

from server.errors import ConfigError
from server.fs import Jail
from server.net.links import NoFreePort
from server.protocols.ftp import addressing, limits
from server.protocols.ftp.authorizer import (
    Authorizer,
    hash_password,
    parse_line,
    verify_password,
)
from server.protocols.ftp.channels import PassiveChannel
from server.protocols.ftp.listing import entries, facts_line, ls_line
from server.protocols.ftp.replies import FTPReply, encode_lines, quote
from server.protocols.ftp.transfer import from_crlf, to_crlf
from server.protocols.ftp.upload import UploadFile
from server.protocols.ftp.verbs import gate, split


# -- the gate -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "line,logged_in,can_write,expected",
    [
        ("FOO x", True, True, "500 Command 'FOO' not understood."),
        ("RETR a", False, False, "530 Log in with USER and PASS first."),
        ("RETR", True, True, "501 Syntax error: RETR needs an argument (RETR <path>: download "
                             "a file.)"),
        ("CDUP x", True, True, "501 Syntax error: CDUP takes no argument."),
        ("STOR a", True, False, "550 Permission denied: this account is read-only."),
        ("stor a", True, True, "STOR"),
        ("XMKD d", True, True, "MKD"),
        ("USER x", False, False, "USER"),
        ("FEAT", False, False, "FEAT"),
        ("AUTH TLS", False, False, "AUTH"),  # TLS comes before the login
        ("PROT", False, False, "501 Syntax error: PROT needs an argument (PROT P|C: data "
                               "connections protected by TLS (P) or in clear (C).)"),
        ("CCC x", False, False, "501 Syntax error: CCC takes no argument."),
    ],
)  # fmt: skip
def test_gate(line, logged_in, can_write, expected):
    word, arg = split(line)
    try:
        assert gate(word, arg, logged_in, can_write).name == expected
    except FTPReply as answer:
        assert f"{answer.code} {answer.text}" == expected


def test_split_keeps_spaces_inside_the_argument():
    assert split("RETR my file .txt ") == ("RETR", "my file .txt ")
    assert split("NOOP") == ("NOOP", "")


def test_replies():
    assert encode_lines(211, "Features:", ["EPSV", "UTF8"], "End.") == (
        b"211-Features:\r\n EPSV\r\n UTF8\r\n211 End.\r\n"
    )
    assert quote('a "b"') == '"a ""b"""'


# -- addresses ------------------------------------------------------------------------------
def test_port_and_eprt_parsing():
    assert addressing.parse_port("127,0,0,1,4,1") == ("127.0.0.1", 1025)
    assert addressing.parse_port(" 192,0,2,3,0,80") == ("192.0.2.3", 80)
    assert addressing.parse_eprt("|1|132.235.1.2|6275|") == ("132.235.1.2", 6275)
    assert addressing.parse_eprt("!2!::1!5000!") == ("::1", 5000)
    for bad in ("1,2,3,4,5", "1,2,3,4,5,256", "a,b,c,d,e,f", "1,2,3,4,5,\uff16"):
        with pytest.raises(FTPReply) as info:
            addressing.parse_port(bad)
        assert info.value.code == 501
    for bad, code in [("|1|::1|5|", 501), ("|9|1.2.3.4|5|", 522), ("|1|1.2.3.4|x|", 501),
                      ("", 501), ("|1|1.2.3.4|70000|", 501), ("|1|host|21|", 501)]:  # fmt: skip
        with pytest.raises(FTPReply) as info:
            addressing.parse_eprt(bad)
        assert info.value.code == code, bad


def test_active_targets_must_be_the_client_on_an_unprivileged_port():
    addressing.check_active("127.0.0.1", 1024, "::ffff:127.0.0.1")  # mapped is the same host
    for host, port in [("127.0.0.2", 5000), ("127.0.0.1", 1023), ("::1", 5000)]:
        with pytest.raises(FTPReply) as info:
            addressing.check_active(host, port, "127.0.0.1")
        assert info.value.code == 501


def test_passive_replies():
    assert addressing.pasv_text("::ffff:198.51.100.1", 30001) == (
        "Entering Passive Mode (198,51,100,1,117,49)."
    )
    assert addressing.epsv_text(30001) == "Entering Extended Passive Mode (|||30001|)."
    addressing.epsv_protocol("1", "127.0.0.1")
    addressing.epsv_protocol("", "::1")
    with pytest.raises(FTPReply, match="use \\(2\\)"):
        addressing.epsv_protocol("1", "::1")


# -- formats --------------------------------------------------------------------------------
def _stat(tmp_path, mtime: float):
    path = tmp_path / "f"
    path.write_bytes(b"12345")
    os.utime(path, (mtime, mtime))
    return os.stat(path)


def test_ls_lines_show_the_year_for_old_files(tmp_path):
    now = time.time()
    recent = ls_line("f", _stat(tmp_path, 1_700_000_000), 1_700_000_000 + 10)
    assert recent.startswith("-rw") and recent.endswith(" 5 Nov 14 22:13 f")
    old = ls_line("f", _stat(tmp_path, 946_684_800), now)
    assert old.endswith(" 5 Jan  1  2000 f")


def test_facts(tmp_path):
    st = _stat(tmp_path, 946_684_800)
    line = facts_line("f", st, ("type", "size", "modify", "perm"), writable=False)
    assert line == "type=file;size=5;modify=20000101000000;perm=r; f"
    folder = facts_line("d", os.stat(tmp_path), ("type", "size", "perm"), writable=True)
    assert folder == "type=dir;perm=elcdfmp; d"


def test_ascii_conversions_across_chunk_boundaries():
    assert b"".join(to_crlf(iter([b"a\r", b"\nb\n", b"c\r"]))) == b"a\r\nb\r\nc\r"
    out, cr = from_crlf(b"x\r\ny\r", b"")
    assert (out, cr) == (b"x\ny", b"\r")
    assert from_crlf(b"\nz", cr) == (b"\nz", b"")


# -- passwords and users --------------------------------------------------------------------
@pytest.mark.parametrize("scheme", ["scrypt", "pbkdf2_sha256"])
def test_password_hashes(scheme):
    encoded = hash_password("pässword", scheme)
    assert encoded.startswith(scheme + "$") and "pässword" not in encoded
    assert verify_password("pässword", encoded)
    assert not verify_password("password", encoded)
    assert hash_password("pässword", scheme) != encoded  # salted
    assert not verify_password("x", "scrypt$1$2$3$!!$!!")  # malformed: never a login


@pytest.mark.parametrize(
    "line,message",
    [
        ("bob:x:r:/home", "unrecognised password hash"),
        ("bob:scrypt$1$2$3$4$5:rwx:/home", "rights must be r or rw"),
        ("bob:scrypt$1$2$3$4$5:r:relative", "must be an absolute path"),
        ("b b:scrypt$1$2$3$4$5:r:/home", "bad user name"),
        ("bob:r:/home", "expected name:hash:rights:home"),
    ],
)
def test_users_file_lines_are_checked(line, message):
    with pytest.raises(ConfigError, match=message):
        parse_line(line, "users:1")


def test_authorizer_sees_a_changed_users_file(tmp_path):
    users = tmp_path / "users"
    users.write_text(f"alice:{hash_password('a')}:rw:{tmp_path}\n")
    auth = Authorizer(str(users), anonymous_root=None)
    assert auth.login("alice", "a").write
    assert auth.login("alice", "b") is None
    assert auth.login("anonymous", "") is None  # not enabled
    users.write_text(f"carol:{hash_password('c')}:r:{tmp_path}\n")
    assert auth.login("alice", "a") is None
    assert not auth.login("carol", "c").write
    users.write_text("garbage\n")  # a broken edit keeps the last good file
    assert auth.login("carol", "c") is not None
    assert Authorizer(None, anonymous_root=str(tmp_path)).login("FTP", "x").anonymous


# -- limits across processes ----------------------------------------------------------------
def test_connection_table_limits_total_and_per_address():
    table = limits.ConnectionTable(3, per_ip=2)
    a = table.claim("127.0.0.1")
    table.claim("::ffff:127.0.0.1")  # the same host
    with pytest.raises(limits.LimitReached, match="from your address"):
        table.claim("127.0.0.1")
    table.claim("::1")
    with pytest.raises(limits.LimitReached, match="at most 3"):
        table.claim("192.0.2.9")
    table.release(a)
    assert table.count() == 2 and table.count("127.0.0.1") == 1
    table.claim("192.0.2.9")


def test_slots_of_dead_processes_are_reclaimed():
    table = limits.ConnectionTable(4)
    children = []
    for _ in range(4):
        pid = os.fork()
        if pid == 0:
            table.claim("127.0.0.1")
            os._exit(0)  # dies holding its slot
        children.append(pid)
    for pid in children:
        os.waitpid(pid, 0)
    assert table.count() == 4  # what the dead left behind
    table.claim("127.0.0.1")  # the table looked full: dead owners are swept
    assert table.count() == 1


def test_a_recycled_pid_does_not_keep_a_slot():
    table = limits.ConnectionTable(1)
    slot = table.claim("127.0.0.1")
    # Our own pid, but a different start time: the owner the slot names is gone.
    table._table._starts[slot] = 1
    table.claim("127.0.0.1")
    assert table.count() == 1


# -- atomic uploads -------------------------------------------------------------------------
def test_upload_commit_and_discard(tmp_path):
    target = tmp_path / "file"
    target.write_bytes(b"0123456789")
    os.chmod(target, 0o600)
    kept = UploadFile(str(target), keep=4)
    while kept.copy_some():
        pass
    kept.write(b"abc")
    assert target.read_bytes() == b"0123456789"  # nothing visible before the commit
    kept.commit()
    assert target.read_bytes() == b"0123abc"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    dropped = UploadFile(str(target))
    dropped.write(b"never seen")
    dropped.discard()
    dropped.discard()
    assert target.read_bytes() == b"0123abc"
    assert os.listdir(tmp_path) == ["file"]


def test_listings_leave_out_uploads_in_progress_and_unlistable_names(tmp_path):
    for name in ("kept.txt", ".ftp-upload-0123abcd", "line\nbreak"):
        (tmp_path / name).write_bytes(b"x")
    jail = Jail(str(tmp_path))
    names = [name for name, _ in entries(jail, str(tmp_path), os.listdir(tmp_path))]
    assert names == ["kept.txt"]


class _Links:
    """Links whose listener cannot be made, for the reason given."""

    def __init__(self, error: OSError):
        self.error = error

    def listen(self, host, ports, accepted):
        raise self.error


@pytest.mark.parametrize(
    "error,text",
    [
        (NoFreePort("taken"), "No passive port free; try again later."),
        (OSError("fd 1025 is beyond select()'s FD_SETSIZE (1024)"),
         "Cannot open passive port: fd 1025 is beyond select()'s FD_SETSIZE (1024)."),
        (PermissionError(13, "Permission denied"), "Cannot open passive port: Permission denied."),
    ],
)  # fmt: skip
def test_a_passive_port_that_cannot_be_opened_is_a_425(error, text):
    with pytest.raises(FTPReply) as info:
        PassiveChannel(None, _Links(error), 1.0, ("127.0.0.1", None), "127.0.0.1")
    assert (info.value.code, info.value.text) == (425, text)
