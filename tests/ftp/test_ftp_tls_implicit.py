"""Implicit FTPS (--tls-implicit, port 990 style) under every model: TLS before the 220, data
protected without PBSZ/PROT, curl's ftps://, clear text and broken hellos on that port; and a
PROXY header in clear before TLS, on the control connection and on a data connection."""

from __future__ import annotations

import socket
import subprocess

import pytest
from ftp_support import BLOB, listing, reply, retr, start_ftp, stop_clean
from ftps_support import (
    BOUND,
    FTPS,
    TLS_TIMEOUT,
    Control,
    assert_closed_with_a_log_line,
    client_context,
    stalls_logged,
    tls_failures,
)
from tls_support import client_hello, handshake_after, read_to_end

from harness import MODELS


@pytest.fixture(scope="module", params=MODELS)
def implicit(request, tmp_path_factory, certificate):
    base = tmp_path_factory.mktemp(f"ftps-implicit-{request.param}")
    root = base / "root"
    root.mkdir()
    (root / "blob.bin").write_bytes(BLOB)
    cert, key = certificate
    server = start_ftp(
        request.param, "--root", str(root), "--anonymous", "--certfile", str(cert),
        "--keyfile", str(key), "--tls-implicit", "--data-timeout", str(TLS_TIMEOUT),
    )  # fmt: skip
    server.cafile = cert
    yield server
    stop_clean(server)


def test_implicit_tls(implicit, tmp_path):
    with FTPS(implicit.cafile, implicit=True) as client:
        assert client.connect(implicit.host, implicit.port).startswith("220 ")
        client.login()
        assert (
            reply(client, "AUTH TLS") == "503 The control connection is already protected by TLS."
        )
        assert [line.split()[-1] for line in listing(client, "LIST")] == ["blob.bin"]
        assert retr(client, "blob.bin") == BLOB  # data protected without PBSZ and PROT
        assert client.resumed == [True, True]
        assert reply(client, "PBSZ 0") == "200 PBSZ=0"
        client.prot_c()  # allowed: this server does not require TLS on data
        client.protect = False
        assert retr(client, "blob.bin") == BLOB
    out = tmp_path / "curl.bin"
    done = subprocess.run(
        ["curl", "-sS", "--max-time", "30", "--cacert", str(implicit.cafile), "-o", str(out),
         f"ftps://127.0.0.1:{implicit.port}/blob.bin"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == BLOB


def test_clear_text_and_broken_hellos_on_an_implicit_port(implicit):
    hello = client_hello()
    failed = tls_failures(implicit)
    clear = socket.create_connection((implicit.host, implicit.port), timeout=BOUND)
    clear.sendall(b"USER anonymous\r\n")  # a plain FTP client: it hears no 220 in clear
    assert_closed_with_a_log_line(implicit, clear, tls_failures, failed)
    failed = tls_failures(implicit)
    truncated = socket.create_connection((implicit.host, implicit.port), timeout=BOUND)
    truncated.sendall(hello[:40])
    truncated.shutdown(socket.SHUT_WR)
    assert_closed_with_a_log_line(implicit, truncated, tls_failures, failed)
    stalls = stalls_logged(implicit)
    stalled = socket.create_connection((implicit.host, implicit.port), timeout=BOUND)
    stalled.sendall(hello[:40])
    with FTPS(implicit.cafile, implicit=True) as client:  # iterative: waits for the staller
        client.connect(implicit.host, implicit.port)
        client.login()
        assert retr(client, "blob.bin") == BLOB
    assert_closed_with_a_log_line(implicit, stalled, stalls_logged, stalls)


# -- behind a proxy -------------------------------------------------------------------------
def v1(client: str, port: int) -> bytes:
    return f"PROXY TCP4 {client} 192.0.2.1 {port} 21\r\n".encode()


@pytest.fixture(scope="module", params=MODELS)
def proxied(request, tmp_path_factory, certificate):
    """--tls-required behind --proxy-protocol: headers in clear, then TLS."""
    base = tmp_path_factory.mktemp(f"ftps-proxied-{request.param}")
    (base / "root").mkdir()
    (base / "root" / "blob.bin").write_bytes(BLOB)
    cert, key = certificate
    server = start_ftp(
        request.param, "--root", str(base / "root"), "--anonymous", "--certfile", str(cert),
        "--keyfile", str(key), "--tls-required", "--data-timeout", str(TLS_TIMEOUT),
        "--proxy-protocol", "--forwarded-allow-ips", "127.0.0.1",
    )  # fmt: skip
    server.cafile = cert
    yield server
    stop_clean(server)


def test_proxy_headers_in_clear_then_tls(proxied):
    client = "203.0.113.21"
    control = Control(proxied, v1(client, 5555))
    try:
        assert control.reply().startswith("220 ")
        control.secure()
        for line in ("USER anonymous", "PASS guest@", "PBSZ 0", "PROT P", "TYPE I"):
            assert control.command(line)[:1] in "23", line
        assert f"Connected from {client}" in control.command("STAT")
        port = control.epsv()
        with socket.create_connection((proxied.host, port), timeout=BOUND) as data:
            control.sock.sendall(b"RETR blob.bin\r\n")
            # The data connection's header and ClientHello in one write: the PROXY gate reads
            # past the header, and those bytes start the TLS once the transfer begins.
            context = client_context(proxied.cafile)
            tls, incoming, _ = handshake_after(data, v1(client, 4000), context)
            assert read_to_end(data, tls, incoming) == BLOB
        assert control.reply().startswith("150 ")
        assert control.reply() == "226 Transfer complete."
    finally:
        control.close()
