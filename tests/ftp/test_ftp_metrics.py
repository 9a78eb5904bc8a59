"""FTP's counters on the metrics listener, under every model: what the clients did, exactly."""

from __future__ import annotations

import ftplib
import os

import pytest
from ftp_support import PASSWORDS, ftp, make_tree, make_users, retr, stor

from harness import MODELS, metrics_port, scrape, wait_for


@pytest.fixture
def ftp_tree(tmp_path):
    root = make_tree(tmp_path / "root")
    alice, bob = tmp_path / "alice", tmp_path / "bob"
    alice.mkdir()
    bob.mkdir()
    return root, alice, make_users(tmp_path / "users", alice, bob)


@pytest.mark.parametrize("model", MODELS)
def test_ftp_counts_what_the_clients_did(server_factory, ftp_tree, model):
    root, alice_home, users = ftp_tree
    server = server_factory("ftp", model, args=[
        "--metrics-listen", "127.0.0.1:0", "--root", str(root), "--anonymous",
        "--users", str(users), "--login-delay", "0",
    ])  # fmt: skip
    port = metrics_port(server)
    upload = os.urandom(70_000)
    with ftp(server) as client:  # anonymous: a download and a listing
        assert retr(client, "a.txt") == b"hello\n"
        client.nlst()
        assert scrape(port)["ftp_sessions_open"] == 1
    with ftp(server, user=None) as client:
        with pytest.raises(ftplib.error_perm):
            client.login("alice", "not " + PASSWORDS["alice"])
        client.login("alice", PASSWORDS["alice"])
        stor(client, "up.bin", upload)
        with pytest.raises(ftplib.error_perm):
            retr(client, "missing.bin")  # refused before any transfer: not one
    assert (alice_home / "up.bin").read_bytes() == upload
    values = wait_for(
        lambda: (v := scrape(port))["ftp_sessions_open"] == 0 and v, 10,
        what="both sessions counted out",
    )  # fmt: skip
    assert values["ftp_sessions_total"] == 2
    assert values['ftp_logins_total{outcome="ok"}'] == 2
    assert values['ftp_logins_total{outcome="failed"}'] == 1
    transfers = {k: v for k, v in values.items() if k.startswith("ftp_transfers_total")}
    ok = {f'ftp_transfers_total{{direction="{d}",outcome="ok"}}' for d in ("download", "upload",
                                                                         "listing")}  # fmt: skip
    assert {k for k, v in transfers.items() if v} == ok and all(transfers[k] == 1 for k in ok)
    assert len(transfers) == 9  # every direction and outcome, zeros included
    assert values['ftp_transfer_bytes_total{direction="download"}'] == 6
    assert values['ftp_transfer_bytes_total{direction="upload"}'] == len(upload)
