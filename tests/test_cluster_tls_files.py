"""scripts/cluster-tls, without Docker: the CA and server certificate `./cluster up` makes once
and reuses, and the modes and owner compose's secrets rely on."""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "cluster-tls"
SERVER_UID = 10001  # docker/server.Dockerfile's SERVER_UID

pytestmark = [
    pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl (scripts/setup-test)"),
    # the key is chown'ed to the server's uid: with sudo when not root, which a test cannot answer
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to chown the key"),
]


def _make(folder: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "CLUSTER_TLS_DIR": str(folder)}
    return subprocess.run(
        [str(SCRIPT)], env=env, capture_output=True, text=True, check=True, timeout=60
    )


def _contents(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def test_a_ca_and_a_certificate_for_every_name_with_the_modes_compose_needs(tmp_path):
    folder = tmp_path / "tls"
    made = _make(folder)
    assert made.stdout.strip() == str(folder)
    assert sorted(_contents(folder)) == ["ca.key", "ca.pem", "server.key", "server.pem"]
    modes = {p.name: (p.stat().st_mode & 0o777, p.stat().st_uid) for p in folder.iterdir()}
    assert modes["server.key"] == (0o600, SERVER_UID)
    assert modes["ca.key"][0] == 0o600 and modes["ca.pem"][0] == 0o644
    assert folder.stat().st_mode & 0o777 == 0o700
    context = ssl.create_default_context(cafile=str(folder / "ca.pem"))
    context.load_cert_chain(folder / "server.pem", folder / "server.key")  # a matching pair
    text = subprocess.run(
        ["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", str(folder / "server.pem")],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    for name in ("DNS:localhost", "IP Address:127.0.0.1", "DNS:nginx", "DNS:ftp-fork"):
        assert name in text
    verify = ["openssl", "verify", "-CAfile", str(folder / "ca.pem"), str(folder / "server.pem")]
    assert subprocess.run(verify, capture_output=True).returncode == 0


def test_made_once_then_reused_and_a_lost_certificate_is_issued_by_the_same_ca(tmp_path):
    folder = tmp_path / "tls"
    _make(folder)
    first = _contents(folder)
    again = _make(folder)
    assert _contents(folder) == first and again.stderr == ""  # nothing made the second time
    (folder / "server.pem").unlink()
    reissued = _make(folder)
    assert "issuing the server certificate" in reissued.stderr
    now = _contents(folder)
    assert now["ca.pem"] == first["ca.pem"] and now["server.pem"] != first["server.pem"]
