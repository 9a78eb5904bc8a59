"""The balancer's HTTPS (`balancer.tls`, a service's `tls_listen`), without Docker or SSH: the
inventory's checks and the rendered nginx configuration."""

from __future__ import annotations

import re

import pytest
from inventories import MINIMAL, parse

from deploy import balancer
from deploy.errors import InventoryError

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
