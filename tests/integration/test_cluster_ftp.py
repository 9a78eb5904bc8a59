"""FTP through nginx in passive mode, with curl and ftplib; one library behind every replica."""

from __future__ import annotations

import ftplib
import hashlib
import io
import os
import secrets
import subprocess
from contextlib import ExitStack

import pytest
from cluster_clients import FTP_PORT, HOST, HTTP_REPLICAS, PASSIVE, get_until

pytestmark = [pytest.mark.docker, pytest.mark.timeout(600)]

USER, PASSWORD = "library", "library"  # the demo account in docker/ftp-users
SEED = b"This file ships in the server image and seeds the shared library volume.\n"
BASE = f"ftp://{HOST}:{FTP_PORT}/"


def curl(*args: str) -> subprocess.CompletedProcess:
    """curl in passive mode with PASV (not EPSV), so the masqueraded address is what is used."""
    return subprocess.run(
        ["curl", "--silent", "--show-error", "--max-time", "30", "--disable-epsv", *args],
        capture_output=True,
        timeout=60,
    )


def test_curl_lists_downloads_and_uploads(cluster, tmp_path):
    listing = curl(BASE)
    assert listing.returncode == 0, listing.stderr
    assert b"README.txt" in listing.stdout and b"index.html" in listing.stdout

    assert curl(BASE + "README.txt").stdout == SEED

    local = tmp_path / "up.bin"
    local.write_bytes(os.urandom(300_000))
    name = f"curl-{secrets.token_hex(4)}.bin"
    upload = curl("--user", f"{USER}:{PASSWORD}", "--upload-file", str(local), BASE + name)
    assert upload.returncode == 0, upload.stderr
    assert curl(BASE + name).stdout == local.read_bytes()  # read back anonymously

    refused = curl("--upload-file", str(local), BASE + "anonymous.bin")
    assert refused.returncode != 0, "anonymous users are read-only"


def connect(user: str = USER, password: str = PASSWORD) -> ftplib.FTP:
    ftp = ftplib.FTP(timeout=20)
    ftp.connect(HOST, FTP_PORT)
    ftp.login(user, password)
    ftp.set_pasv(True)
    return ftp


def replica_of(ftp: ftplib.FTP) -> str:
    """Which replica serves this control connection: its PASV reply names its port range."""
    # ftplib's makepasv() would swap the advertised address for the control connection's
    host, port = ftplib.parse227(ftp.sendcmd("PASV"))
    assert host == HOST, f"PASV advertises {host}, not the masqueraded {HOST}"
    return next(name for name, ports in PASSIVE.items() if port in ports)


def test_ftplib_lists_downloads_and_uploads_in_passive_mode(cluster):
    with connect() as ftp:
        assert replica_of(ftp) in PASSIVE
        assert {"README.txt", "index.html"} <= set(ftp.nlst())
        facts = dict(ftp.mlsd())
        assert facts["README.txt"]["type"] == "file"

        got = io.BytesIO()
        ftp.retrbinary("RETR README.txt", got.write)
        assert got.getvalue() == SEED

        data = os.urandom(2 * 1024 * 1024)
        name = f"ftplib-{secrets.token_hex(4)}.bin"
        ftp.storbinary(f"STOR {name}", io.BytesIO(data))
        assert ftp.size(name) == len(data)
        back = hashlib.sha256()
        ftp.retrbinary(f"RETR {name}", back.update)
        assert back.hexdigest() == hashlib.sha256(data).hexdigest()
        ftp.delete(name)
        assert name not in ftp.nlst()


def test_a_file_uploaded_through_one_replica_is_everywhere(cluster):
    data = f"uploaded through one replica {secrets.token_hex(8)}\n".encode()
    name = f"shared-{secrets.token_hex(4)}.txt"
    with ExitStack() as stack:
        # least_conn sends a new control connection to the FTP replica with fewer: hold each
        # open until both replicas have one (bounded)
        by_replica: dict[str, ftplib.FTP] = {}
        for _ in range(6):
            ftp = stack.enter_context(connect())
            by_replica.setdefault(replica_of(ftp), ftp)
            if len(by_replica) == len(PASSIVE):
                break
        assert set(by_replica) == set(PASSIVE), f"FTP connections all went to {set(by_replica)}"

        uploader, downloader = by_replica["ftp-fork"], by_replica["ftp-thread"]
        uploader.storbinary(f"STOR {name}", io.BytesIO(data))
        got = io.BytesIO()
        downloader.retrbinary(f"RETR {name}", got.write)
        assert got.getvalue() == data

    # ... and every HTTP replica serves it, from the same volume mounted read-only
    served: dict[str, bytes] = {}

    def every_replica_served(replies) -> bool:
        served.update((reply.served_by, reply.body) for reply in replies if reply.status == 200)
        return set(served) == set(HTTP_REPLICAS)

    get_until(every_replica_served, f"/{name}", attempts=200)
    assert all(body == data for body in served.values())

    with connect() as ftp:
        ftp.delete(name)
