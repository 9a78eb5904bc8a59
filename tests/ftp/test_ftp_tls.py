"""FTPS (RFC 4217) under every model, with real clients: ftplib's FTP_TLS (PROT P, session
resumption on data connections), curl --ssl-reqd and lftp with ftp:ssl-force, against a
--tls-required server, which refuses logins and data in clear text; flags and HUP reload."""

from __future__ import annotations

import shutil
import signal
import ssl
import subprocess

import pytest
from ftp_support import (
    BLOB,
    PASSWORDS,
    check_replies,
    listing,
    reply,
    retr,
    run_cli,
    stor,
    temp_files,
)
from ftps_support import FTPS, Control
from test_ftp_clients import tree
from tls_support import make_certificate, serial_of

from harness import ServerProcess, wait_for

SECURITY_REFUSALS = [
    ("USER alice", "530 TLS required: send AUTH TLS before logging in (--tls-required)."),
    ("PASS x", "530 TLS required: send AUTH TLS before logging in (--tls-required)."),
    ("PBSZ 0", "503 PBSZ needs a protected control connection: AUTH TLS first."),
    ("PROT P", "503 PROT needs a protected control connection: AUTH TLS first."),
    ("CCC", "533 CCC needs a protected control connection: AUTH TLS first."),
    ("AUTH KERBEROS_V4", "504 AUTH KERBEROS_V4 not supported; use AUTH TLS."),
]
AFTER_AUTH = [
    ("AUTH TLS", "503 The control connection is already protected by TLS."),
    ("PROT P", "503 Send PBSZ 0 before PROT."),
    ("PBSZ 0", "200 PBSZ=0"),
    ("PROT C", "534 PROT C refused: this server requires TLS on data too."),
    ("PROT E", "536 PROT E not supported; use P (or C)."),
    ("CCC", "534 CCC refused: the control connection stays encrypted (policy)."),
]


def test_ftplib_over_tls(ftps):
    server = ftps.server
    (ftps.alice / "half.bin").write_bytes(BLOB[:999_999])
    with FTPS(server.cafile) as c:
        c.connect(server.host, server.port)
        features = set(reply(c, "FEAT").splitlines())
        assert {" AUTH TLS", " PBSZ", " PROT"} <= features
        check_replies(c, SECURITY_REFUSALS)
        c.auth()
        c.login("alice", PASSWORDS["alice"])
        check_replies(c, AFTER_AUTH)
        assert reply(c, "EPSV").startswith("229 ")
        assert reply(c, "LIST") == (
            "521 Data connections must be protected: send PBSZ 0 and PROT P."
        )
        c.prot_p()
        assert stor(c, "blob.bin", BLOB) == "226 Transfer complete."
        assert (ftps.alice / "blob.bin").read_bytes() == BLOB
        assert retr(c, "blob.bin") == BLOB
        assert retr(c, "blob.bin", rest=1_000_001) == BLOB[1_000_001:]
        stor(c, "half.bin", BLOB[999_999:], rest=999_999)  # REST + STOR: resume an upload
        assert (ftps.alice / "half.bin").read_bytes() == BLOB
        assert any(line.endswith(" blob.bin") for line in listing(c, "LIST"))
        c.set_pasv(False)  # active: the server connects, and is still the TLS server
        assert retr(c, "blob.bin") == BLOB
        assert " Control connection: TLS; data protection: P (TLS)" in reply(c, "STAT")
        # ftplib resumes the control connection's session on each data connection (it does
        # not by itself: FTPS passes the session), and the server lets it, every time.
        assert c.resumed == [True] * 6
    assert temp_files(ftps.alice) == []


def curl(ftps, *args: str) -> subprocess.CompletedProcess:
    command = ["curl", "-sS", "--max-time", "60", "--cacert", str(ftps.server.cafile), *args]
    return subprocess.run(command, capture_output=True, timeout=90)


def url(ftps, path: str = "/", user: str | None = None) -> str:
    login = f"{user}:{PASSWORDS[user]}@" if user else ""
    return f"ftp://{login}127.0.0.1:{ftps.server.port}{path}"


def test_curl_ssl_reqd(ftps, tmp_path):
    clear = curl(ftps, url(ftps, "/"))  # curl without --ssl-reqd logs in over clear text
    assert clear.returncode == 67, clear.stderr  # CURLE_LOGIN_DENIED: refused
    listed = curl(ftps, "--ssl-reqd", url(ftps, "/"))
    assert listed.returncode == 0, listed.stderr
    assert b" a.txt\n" in listed.stdout and b" sub\n" in listed.stdout
    assert curl(ftps, "--ssl-reqd", url(ftps, "/blob.bin")).stdout == BLOB
    source = tmp_path / "source.bin"
    source.write_bytes(BLOB)
    sent = curl(ftps, "--ssl-reqd", "-T", str(source), url(ftps, "/curl.bin", "alice"))
    assert sent.returncode == 0, sent.stderr
    assert (ftps.alice / "curl.bin").read_bytes() == BLOB
    (ftps.alice / "curl-half.bin").write_bytes(BLOB[:1_234_567])
    pushed = curl(ftps, "--ssl-reqd", "-C", "-", "-T", str(source),
                  url(ftps, "/curl-half.bin", "alice"))  # fmt: skip
    assert pushed.returncode == 0, pushed.stderr
    assert (ftps.alice / "curl-half.bin").read_bytes() == BLOB
    partial = tmp_path / "partial.bin"
    partial.write_bytes(BLOB[:777])
    resumed = curl(ftps, "--ssl-reqd", "-v", "-C", "-", "-o", str(partial), url(ftps, "/blob.bin"))
    assert resumed.returncode == 0, resumed.stderr
    assert partial.read_bytes() == BLOB


def test_lftp_ssl_force(ftps, tmp_path):
    source = tmp_path / "source"
    (source / "nested").mkdir(parents=True)
    (source / "top.txt").write_bytes(b"top\n")
    (source / "nested" / "blob.bin").write_bytes(BLOB)
    settings = (
        "set ftp:ssl-force true; set ftp:ssl-protect-data true; set ssl:verify-certificate no; "
        "set net:max-retries 1; set net:timeout 20; set cmd:fail-exit yes"
    )
    login = f"open -u alice,{PASSWORDS['alice']} ftp://127.0.0.1:{ftps.server.port}"
    script = f"mirror -R {source} /lftp; mirror /lftp {tmp_path / 'back'}; cls /lftp"
    done = subprocess.run(["lftp", "-c", f"{settings}; {login}; {script}"],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert tree(ftps.alice / "lftp") == tree(source) == tree(tmp_path / "back")
    assert done.stdout.split() == ["/lftp/nested/", "/lftp/top.txt"]


# -- configuration and reload (one model: the code is the same under all) -------------------
@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--tls-required"], {}, "--tls-required needs --certfile and --keyfile"),
        ([], {"SERVER_TLS_IMPLICIT": "1"}, "--tls-implicit needs --certfile and --keyfile"),
        (["--certfile", "/nonexistent.pem", "--keyfile", "/nonexistent.pem"], {},
         "--certfile /nonexistent.pem: No such file or directory"),
    ],
)  # fmt: skip
def test_tls_configuration_errors_exit_2_with_one_line(args, env, message, tmp_path):
    result = run_cli("ftp", "--bind", "127.0.0.1:0", "--root", str(tmp_path), "--anonymous",
                     *args, env=env)  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stderr == f"server: error: {message}\n"


def auth_serial(server: ServerProcess) -> int:
    """AUTH TLS, and the serial of the certificate the server answers with."""
    control = Control(server)
    try:
        assert control.reply().startswith("220 ")
        assert control.command("AUTH TLS").startswith("234 ")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        with context.wrap_socket(control.sock) as tls:
            return serial_of(tls.getpeercert(binary_form=True))
    finally:
        control.close()


def test_hup_reloads_the_certificate(tmp_path, certificate):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    shutil.copy(certificate[0], cert)
    shutil.copy(certificate[1], key)
    new_cert, new_key = make_certificate(tmp_path / "new", 4218)
    args = ["--root", str(tmp_path), "--anonymous", "--certfile", str(cert), "--keyfile", str(key)]
    with ServerProcess("ftp", "epoll", args=args) as server:
        assert auth_serial(server) == 4217
        shutil.copy(new_cert, cert)
        shutil.copy(new_key, key)
        server.signal(signal.SIGHUP)
        wait_for(lambda: auth_serial(server) == 4218, what="the new certificate")


def test_help_lists_the_tls_flags():
    shown = run_cli("ftp", "--help").stdout
    for flag in ("--certfile", "--keyfile", "--tls-required", "--tls-implicit"):
        assert flag in shown, flag
    assert "[env SERVER_TLS_REQUIRED]" in shown and "[env SERVER_CERTFILE]" in shown
