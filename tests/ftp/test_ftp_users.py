"""`python -m server ftp-user` and the ftp command's own flags, as users run them."""

from __future__ import annotations

import base64
import ftplib
import hashlib
import os
import stat
import time

import pytest
from ftp_support import ftp, make_tree, run_cli, start_ftp, stop_clean

from server.protocols.ftp.authorizer import Account, write_users


def test_add_list_replace_and_remove_users(tmp_path):
    users = tmp_path / "users"
    home = tmp_path / "home"
    home.mkdir()
    added = run_cli("ftp-user", "add", "--users", str(users), "--home", str(home), "--write",
                    "--password-env", "PW", "alice", env={"PW": "one"})  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert added.stdout == f"alice: read-write, home {home}\n"
    piped = run_cli("ftp-user", "add", "--users", str(users), "--home", str(home), "bob",
                    stdin="two\n")  # fmt: skip
    assert piped.returncode == 0, piped.stderr
    assert stat.S_IMODE(os.stat(users).st_mode) == 0o600
    text = users.read_text()
    assert "one" not in text and "two" not in text and text.count("scrypt$") == 2
    listed = run_cli("ftp-user", "list", "--users", str(users))
    assert listed.stdout == f"alice\trw\t{home}\nbob\tr\t{home}\n"
    run_cli("ftp-user", "add", "--users", str(users), "--home", str(home), "--password-stdin",
            "--hash", "pbkdf2_sha256", "alice", stdin="three\n")  # fmt: skip
    assert run_cli("ftp-user", "list", "--users", str(users)).stdout.startswith(
        f"alice\tr\t{home}\n"
    )
    assert "pbkdf2_sha256$" in users.read_text()
    assert run_cli("ftp-user", "remove", "--users", str(users), "bob").returncode == 0
    assert run_cli("ftp-user", "list", "--users", str(users)).stdout == f"alice\tr\t{home}\n"


@pytest.mark.parametrize(
    "args,env,stdin,message",
    [
        (["add", "--home", "{home}", "x"], {}, "pw\n", "--users FILE is required"),
        (["add", "--users", "{users}", "--home", "{home}/nope", "x"], {}, "pw\n",
         "is not a folder"),
        (["add", "--users", "{users}", "--home", "{home}", "a:b"], {}, "pw\n", "bad user name"),
        (["add", "--users", "{users}", "--home", "{home}", "x"], {}, "\n", "password is empty"),
        (["add", "--users", "{users}", "--home", "{home}", "--password-env", "NOPE", "x"], {},
         None, "--password-env NOPE: the variable is not set"),
        (["remove", "--users", "{users}", "ghost"], {}, None, "no user 'ghost'"),
    ],
)  # fmt: skip
def test_ftp_user_errors_name_the_problem(tmp_path, args, env, stdin, message):
    fill = {"home": str(tmp_path), "users": str(tmp_path / "users")}
    result = run_cli("ftp-user", *[a.format(**fill) for a in args], stdin=stdin, env=env)
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    "args,message",
    [
        ([], "nobody could log in: give --anonymous and/or --users FILE"),
        (["--anonymous"], "--anonymous needs --root DIR"),
        (["--anonymous", "--root", "{root}/nope"], "is not a folder"),
        (["--anonymous", "--root", "{root}", "--passive-ports", "3000-2000"],
         "need 1024 <= FIRST <= LAST <= 65535"),
        (["--anonymous", "--root", "{root}", "--passive-ports", "30000"], "expected FIRST-LAST"),
        (["--anonymous", "--root", "{root}", "--masquerade", "no.such.host.invalid"],
         "--masquerade 'no.such.host.invalid'"),
        (["--anonymous", "--root", "{root}", "--max-connections", "0"],
         "--max-connections must be at least 1"),
        (["--anonymous", "--root", "{root}", "--data-timeout", "0"],
         "--data-timeout must be more than 0"),
        (["--users", "{root}/users"], "expected name:hash:rights:home"),
    ],
)  # fmt: skip
def test_ftp_flags_are_checked_at_start(tmp_path, args, message):
    (tmp_path / "users").write_text("not a user line\n")
    result = run_cli("ftp", "--bind", "127.0.0.1:0", *[a.format(root=tmp_path) for a in args])
    assert result.returncode == 2
    assert message in result.stderr, result.stderr


def test_flags_have_environment_twins(tmp_path):
    result = run_cli("ftp", "--anonymous", "--root", str(tmp_path), env={
        "SERVER_PASSIVE_PORTS": "1-2", "SERVER_BIND": "127.0.0.1:0"})  # fmt: skip
    assert result.returncode == 2 and "--passive-ports '1-2'" in result.stderr


@pytest.mark.parametrize("model", ["fork", "prefork"])
def test_a_user_added_while_serving_can_log_in(model, tmp_path):
    """Every process re-reads the users file when it changes: no restart, no SIGHUP."""
    root = make_tree(tmp_path / "root")
    users = tmp_path / "users"
    users.write_text("")
    server = start_ftp(model, "--users", str(users), "--login-delay", "0")
    try:
        with (
            pytest.raises(ftplib.error_perm, match=r"530 Login incorrect\."),
            ftp(server, None) as c,
        ):
            c.login("carol", "pw")
        result = run_cli("ftp-user", "add", "--users", str(users), "--home", str(root),
                         "--password-env", "PW", "carol", env={"PW": "pw"})  # fmt: skip
        assert result.returncode == 0, result.stderr
        with ftp(server, None) as c:
            assert c.login("carol", "pw") == "230 User carol logged in."
            assert c.nlst("sub") == ["b.txt", "deeper"]
    finally:
        stop_clean(server)


@pytest.mark.parametrize("model", ["select", "poll", "epoll"])  # one loop serves every client
def test_a_password_check_does_not_stall_other_clients(model, tmp_path):
    """A password check costs CPU on purpose; it runs beside the loop, not on it."""
    home = make_tree(tmp_path / "home")
    salt, iterations = os.urandom(16), 5_000_000  # about a second here: a deliberately slow hash
    key = hashlib.pbkdf2_hmac("sha256", b"slow-secret", salt, iterations)
    encoded = f"pbkdf2_sha256${iterations}${_b64(salt)}${_b64(key)}"
    write_users(str(tmp_path / "users"), {"slow": Account("slow", encoded, False, str(home))})
    server = start_ftp(
        model, "--root", str(home), "--anonymous", "--users", str(tmp_path / "users")
    )
    try:
        with ftp(server, user=None) as slow, ftp(server) as other:
            slow.sendcmd("USER slow")
            slow.putcmd("PASS slow-secret")
            started = time.monotonic()
            assert other.voidcmd("NOOP") == "200 NOOP okay."
            answered_meanwhile = time.monotonic() - started
            assert slow.getresp() == "230 User slow logged in."
            checked = time.monotonic() - started
            assert answered_meanwhile < checked / 2, (answered_meanwhile, checked)
    finally:
        stop_clean(server)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
