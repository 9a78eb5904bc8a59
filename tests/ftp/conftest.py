"""The FTP suites' shared fixture: one server per model, serving a whole module."""

from __future__ import annotations

import pytest
from ftp_support import HUGE, Site, make_tree, make_users, start_ftp, stop_clean

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
