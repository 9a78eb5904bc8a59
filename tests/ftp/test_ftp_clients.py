"""Real clients against the FTP service under every model: curl and lftp."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from ftp_support import BLOB, PASSWORDS, UNICODE_NAME, temp_files

CURL = "/usr/bin/curl"
LFTP = "lftp"


def curl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CURL, "-sS", "--max-time", "60", *args], capture_output=True, timeout=90)


def url(site, path: str = "/", user: str | None = None) -> str:
    login = f"{user}:{PASSWORDS[user]}@" if user else ""
    return f"ftp://{login}{site.server.host}:{site.server.port}{path}"


def tree(folder: Path) -> dict[str, bytes | None]:
    """Every path below `folder`: file contents, None for folders."""
    found: dict[str, bytes | None] = {}
    for here, dirs, files in os.walk(folder):
        rel = os.path.relpath(here, folder)
        for name in dirs:
            found[os.path.normpath(os.path.join(rel, name))] = None
        for name in files:
            found[os.path.normpath(os.path.join(rel, name))] = Path(here, name).read_bytes()
    return found


def test_curl_lists_downloads_and_uploads(site, tmp_path):
    listed = curl(url(site, "/"))
    assert listed.returncode == 0, listed.stderr
    assert b" a.txt\n" in listed.stdout and b" sub\n" in listed.stdout  # ASCII: curl drops CR
    names = curl("--list-only", url(site, "/sub/"))
    assert names.stdout == b"b.txt\ndeeper\n"
    got = curl(url(site, "/blob.bin"))
    assert got.returncode == 0 and got.stdout == BLOB
    assert curl(url(site, "/" + UNICODE_NAME.replace(" ", "%20"))).stdout == "ünïcödé\n".encode()
    for mode in (
        ["--disable-epsv"],
        ["--ftp-port", "127.0.0.1"],
        ["--ftp-port", "127.0.0.1", "--disable-eprt"],
    ):
        assert curl(*mode, url(site, "/a.txt")).stdout == b"hello\n", mode
    source = tmp_path / "upload.bin"
    source.write_bytes(BLOB)
    sent = curl("-T", str(source), url(site, "/uploaded.bin", "alice"))
    assert sent.returncode == 0, sent.stderr
    assert (site.alice / "uploaded.bin").read_bytes() == BLOB
    refused = curl("-T", str(source), url(site, "/uploaded.bin"))
    assert refused.returncode == 25  # CURLE_UPLOAD_FAILED: anonymous is read-only
    assert not (site.root / "uploaded.bin").exists()
    missing = curl(url(site, "/no-such-file"))
    assert missing.returncode == 78  # CURLE_REMOTE_FILE_NOT_FOUND


def test_curl_resumes_downloads_and_uploads(site, tmp_path):
    partial = tmp_path / "partial.bin"
    partial.write_bytes(BLOB[:1_234_567])
    resumed = curl("-C", "-", "-o", str(partial), url(site, "/blob.bin"))
    assert resumed.returncode == 0, resumed.stderr
    assert partial.read_bytes() == BLOB
    source = tmp_path / "source.bin"
    source.write_bytes(BLOB)
    (site.alice / "half.bin").write_bytes(BLOB[:999_999])
    pushed = curl("-C", "-", "-T", str(source), url(site, "/half.bin", "alice"))
    assert pushed.returncode == 0, pushed.stderr
    assert (site.alice / "half.bin").read_bytes() == BLOB
    assert temp_files(site.alice) == []


def lftp(site, script: str, user: str = "alice") -> subprocess.CompletedProcess:
    login = f"-u {user},{PASSWORDS[user]} " if user in PASSWORDS else ""
    settings = "set net:max-retries 1; set net:timeout 20; set cmd:fail-exit yes"
    open_cmd = f"open {login}ftp://{site.server.host}:{site.server.port}"
    return subprocess.run(
        [LFTP, "-c", f"{settings}; {open_cmd}; {script}"],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_lftp_mirrors_a_folder_both_ways(site, tmp_path):
    source = tmp_path / "source"
    (source / "nested" / "deeper").mkdir(parents=True)
    (source / "empty").mkdir()
    (source / "top.txt").write_bytes(b"top\n")
    (source / "nested" / "blob.bin").write_bytes(BLOB)
    (source / "nested" / "deeper" / UNICODE_NAME).write_bytes("ü\n".encode())
    up = lftp(site, f"mirror -R {source} /pushed")
    assert up.returncode == 0, up.stderr
    assert tree(site.alice / "pushed") == tree(source)
    down = lftp(site, f"mirror /pushed {tmp_path / 'back'}")
    assert down.returncode == 0, down.stderr
    assert tree(tmp_path / "back") == tree(source)
    assert temp_files(site.alice) == []


def test_lftp_mirrors_anonymously_and_sees_only_the_root(site, tmp_path):
    down = lftp(site, f"mirror -x huge.bin / {tmp_path / 'anon'}", user="anonymous")
    assert down.returncode == 0, down.stderr
    got = tree(tmp_path / "anon")
    assert got["blob.bin"] == BLOB and got["sub/b.txt"] == b"inner\n"
    assert got["in-link"] == b"hello\n"
    assert not any("out-" in path or "secret" in path for path in got)
    assert all(b"TOP SECRET" not in (data or b"") for data in got.values())
