"""The FTP suites' shared fixtures: one server per model, serving a whole module (FTPS: one
--tls-required server per model, and a throwaway certificate)."""

from __future__ import annotations

from pathlib import Path

import pytest
from ftp_support import HUGE, Site, make_tree, make_users, start_ftp, stop_clean
from ftps_support import TLS_TIMEOUT
from tls_support import make_certificate

from harness import MODELS


@pytest.fixture(scope="module", params=MODELS)
def site(request, tmp_path_factory):
    """One server per model for a whole module: anonymous, alice (rw) and bob (r)."""
    base = tmp_path_factory.mktemp(f"ftp-{request.param}")
    root = make_tree(base / "root")
    with open(root / "huge.bin", "wb") as f:
        f.truncate(HUGE)
    alice, bob = base / "alice", base / "bob"
    alice.mkdir()
    bob.mkdir()
    (bob / "bob.txt").write_bytes(b"bob's\n")
    users = make_users(base / "users", alice, bob)
    server = start_ftp(
        request.param, "--root", str(root), "--anonymous", "--users", str(users),
        "--login-delay", "0.1",
    )  # fmt: skip
    yield Site(server, root, alice, bob)
    stop_clean(server)


@pytest.fixture(scope="session")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1 and its key (the openssl CLI)."""
    return make_certificate(tmp_path_factory.mktemp("ftps-cert"), 4217)


@pytest.fixture(scope="module", params=MODELS)
def ftps(request, tmp_path_factory, certificate):
    """One --tls-required server per model for a whole module, with the `site` tree and users;
    every handshake (control and data) bounded by --data-timeout, short here."""
    base = tmp_path_factory.mktemp(f"ftps-{request.param}")
    root = make_tree(base / "root")
    alice, bob = base / "alice", base / "bob"
    alice.mkdir()
    bob.mkdir()
    (bob / "bob.txt").write_bytes(b"bob's\n")
    users = make_users(base / "users", alice, bob)
    cert, key = certificate
    server = start_ftp(
        request.param, "--root", str(root), "--anonymous", "--users", str(users),
        "--login-delay", "0.1", "--certfile", str(cert), "--keyfile", str(key),
        "--tls-required", "--data-timeout", str(TLS_TIMEOUT),
    )  # fmt: skip
    server.model = request.param
    server.cafile = cert
    yield Site(server, root, alice, bob)
    stop_clean(server)
