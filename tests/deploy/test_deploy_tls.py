"""The balancer's HTTPS (`balancer.tls`, a service's `tls_listen`) and the FTP replicas' copy of
the pair (deploy/ftp_tls.py), without Docker or SSH: the inventory's checks, the rendered nginx
configuration, what an FTP replica is started with and the commands that install the pair."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from types import SimpleNamespace

import pytest
from inventories import MINIMAL, STREAMS, container, parse

from deploy import balancer, ftp_tls, rollout
from deploy.errors import DeployError, InventoryError
from deploy.wiring import wired_env

TLS = '\ntls = { cert = "tls/server.pem", key = "tls/server.key" }\n'


@pytest.fixture
def tls_files(tmp_path):
    folder = tmp_path / "tls"
    folder.mkdir()
    (folder / "server.pem").write_text("-----BEGIN CERTIFICATE-----\nA\n")
    (folder / "server.key").write_text("-----BEGIN PRIVATE KEY-----\nB\n")
    return folder


def _with_tls(tls_listen: str = "tls_listen = 443\n") -> str:
    return MINIMAL.replace("listen = 80\n", f"listen = 80\n{tls_listen}") + TLS


def test_tls_listen_serves_https_with_the_certificate_beside_the_configuration(tmp_path, tls_files):
    inv = parse(_with_tls(), tmp_path)
    assert inv.balancer.tls.cert == tls_files / "server.pem"  # relative to the inventory
    assert inv.services["web"].tls_listen == 443
    config = balancer.render(inv, {"web": [("192.0.2.1", 8081)]})
    assert "listen 80;\n        listen 443 ssl http2;\n" in config
    assert f"ssl_certificate {balancer.MOUNT}/tls/server.pem;" in config
    assert f"ssl_certificate_key {balancer.MOUNT}/tls/server.key;" in config
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in config


def test_a_new_certificate_changes_the_configuration_so_the_deploy_reloads(tmp_path, tls_files):
    inv = parse(_with_tls(), tmp_path)
    before = balancer.render(inv, {})
    assert balancer.render(inv, {}) == before  # the same pair: nothing to switch
    (tls_files / "server.pem").write_text("-----BEGIN CERTIFICATE-----\nrenewed\n")
    assert balancer.render(inv, {}) != before


def test_without_tls_nothing_about_it_is_rendered(tmp_path):
    config = balancer.render(parse(MINIMAL, tmp_path), {})
    assert "ssl" not in config


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (MINIMAL.replace("listen = 80\n", "listen = 80\ntls_listen = 443\n"),
         "services.web.tls_listen needs balancer.tls"),
        (_with_tls("tls_listen = 80\n"), "two services listen on the same balancer port: tcp 80"),
        (_with_tls().replace("[services.web]", '[services.web]\nkind = "tcp"'),
         'services.web.tls_listen: only an HTTP service (kind = "http") has one'),
        (_with_tls().replace("tls/server.key", "tls/missing.key"), "balancer.tls.key: no file"),
        (_with_tls().replace('key = "tls/server.key"', 'keyfile = "x"'),
         "unknown key balancer.tls.keyfile"),
    ],
)  # fmt: skip
def test_tls_inventory_mistakes(tmp_path, tls_files, text, message):
    with pytest.raises(InventoryError, match=re.escape(message)):
        parse(text, tmp_path)


def test_ftp_replicas_get_the_pair_in_a_volume_and_http_ones_do_not(tmp_path, tls_files):
    inv = parse(STREAMS + TLS, tmp_path)
    host = inv.hosts["a"]
    env = wired_env(inv, inv.services["ftp"], host, 2121)
    assert env["SERVER_CERTFILE"] == "/run/deploy-tls/server.pem"
    assert env["SERVER_KEYFILE"] == "/run/deploy-tls/server.key"
    assert "SERVER_CERTFILE" not in wired_env(inv, inv.services["web"], host, 8081)
    without = parse(STREAMS, tmp_path)  # no balancer.tls: FTP in clear text, as before
    assert "SERVER_CERTFILE" not in wired_env(without, without.services["ftp"], host, 2121)
    args = ftp_tls.run_args(inv)
    assert args[:2] == ["--volume", "server-ftp-tls:/run/deploy-tls:ro"]  # not in the image
    assert args[2:] == ["--label", f"deploy.tls={ftp_tls.fingerprint(inv)}"]
    message = re.escape("services.ftp.env.SERVER_CERTFILE: the deploy sets it")
    with pytest.raises(InventoryError, match=message):
        parse(STREAMS.replace('SERVER_MODEL = "thread"', 'SERVER_CERTFILE = "x"') + TLS, tmp_path)


def test_a_renewed_certificate_restarts_the_ftp_replicas(tmp_path, tls_files):
    inv = parse(STREAMS + TLS, tmp_path)
    fleet, ftp = SimpleNamespace(inv=inv), inv.services["ftp"]
    live = container("server-ftp-2121", 2121)
    live.labels.update({"deploy.service": "ftp", "deploy.tls": ftp_tls.fingerprint(inv)})
    assert rollout._wired_alike(fleet, inv.hosts["a"], ftp, live)
    (tls_files / "server.pem").write_text("-----BEGIN CERTIFICATE-----\nrenewed\n")
    assert not rollout._wired_alike(fleet, inv.hosts["a"], ftp, live)
    del live.labels["deploy.tls"]  # deployed before balancer.tls: restarted with the pair
    assert not rollout._wired_alike(SimpleNamespace(inv=parse(STREAMS + TLS, tmp_path)),
                                    inv.hosts["a"], ftp, live)  # fmt: skip


class RecordingRemote:
    """Records what the deploy asks of a host; `docker run` fails when told to."""

    def __init__(self, user: str = "server", fail: bool = False):
        self.user, self.fail, self.calls = user, fail, []

    def inspect_image(self, ref):
        return {"Config": {"User": self.user}}

    def run(self, command, check=True):
        self.calls.append(("run", command))
        return SimpleNamespace(stdout="/tmp/tmp.stage\n")

    def put_text(self, text, path, mode=None):
        self.calls.append(("put", path, mode, text))

    def docker(self, *args, check=True):
        self.calls.append(("docker", *args))
        if self.fail:
            raise DeployError("docker run exited 1")
        return ""


def test_the_pair_is_installed_by_the_engine_as_the_images_user_and_the_stage_removed(
    tmp_path, tls_files
):
    inv = parse(STREAMS + TLS, tmp_path)
    remote = RecordingRemote(user="10001:10001")
    ftp_tls.install(remote, inv, "sha256:abc")
    mktemp, cert, key, run, cleanup = remote.calls
    assert mktemp == ("run", "mktemp -d")
    assert cert[1:3] == ("/tmp/tmp.stage/server.pem", 0o600) and "CERTIFICATE" in cert[3]
    assert key[1:3] == ("/tmp/tmp.stage/server.key", 0o600) and "PRIVATE KEY" in key[3]
    assert run[:9] == ("docker", "run", "--rm", "--user", "0", "--network", "none",
                       "--entrypoint", "python3")  # fmt: skip
    assert "/tmp/tmp.stage:/in:ro" in run and "server-ftp-tls:/out" in run
    assert run[-5:] == ("/in", "/out", "10001:10001", "server.pem", "server.key")
    assert cleanup == ("run", "rm -rf /tmp/tmp.stage")
    failing = RecordingRemote(fail=True)
    with pytest.raises(DeployError):
        ftp_tls.install(failing, inv, "sha256:abc")
    assert failing.calls[-1] == ("run", "rm -rf /tmp/tmp.stage")  # never left behind


def test_the_install_script_gives_the_files_to_the_user_with_mode_0600(tmp_path):
    """The throwaway container's script, run here on this machine's folders and user."""
    source, target = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    target.mkdir()
    for name in ("server.pem", "server.key"):
        (source / name).write_text(name)
    me = os.getuid()
    argv = [sys.executable, "-c", ftp_tls._INSTALL, str(source), str(target), str(me)]
    subprocess.run([*argv, "server.pem", "server.key"], check=True, timeout=30)
    assert target.stat().st_mode & 0o777 == 0o700
    for name in ("server.pem", "server.key"):
        stat = (target / name).stat()
        assert (stat.st_uid, stat.st_mode & 0o777) == (me, 0o600)
        assert (target / name).read_text() == name
    assert sorted(p.name for p in target.iterdir()) == ["server.key", "server.pem"]
