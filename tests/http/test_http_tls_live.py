"""HTTPS (`--certfile`, `--keyfile`) under every model: static files (no sendfile under TLS),
handler modules and WSGI, keep-alive and pipelining, curl; hostile handshakes (clear text, a
truncated ClientHello, a stalled one) cost a socket and a log line; HUP loads a new certificate.
"""

from __future__ import annotations

import http.client
import json
import shutil
import signal
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
from client import read_reply
from conftest import HEADER_TIMEOUT, build_site, server_args
from tls_support import (
    client_hello,
    closed_within,
    handshake_after,
    make_certificate,
    read_to_end,
    serial_of,
)

from harness import MODELS, ROOT, ServerProcess, wait_for


@pytest.fixture(scope="session")
def certificates(tmp_path_factory) -> dict[int, tuple[Path, Path]]:
    """Two certificates (serials 1001 and 2002) and a trust file holding both."""
    base = tmp_path_factory.mktemp("tls")
    pairs = {serial: make_certificate(base / str(serial), serial) for serial in (1001, 2002)}
    trust = base / "trusted.pem"
    trust.write_bytes(b"".join(cert.read_bytes() for cert, _ in pairs.values()))
    pairs[0] = (trust, trust)
    return pairs


def client_context(certificates) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificates[0][0]))


@pytest.fixture(scope="session", params=MODELS)
def https(request, tmp_path_factory, certificates) -> ServerProcess:
    """A running HTTPS server for one model, serving the same site as the HTTP tests."""
    model = request.param
    site = build_site(tmp_path_factory.mktemp(f"https-{model}"))
    cert, key = certificates[1001]
    args = [*server_args(site, model), "--certfile", str(cert), "--keyfile", str(key)]
    server = ServerProcess("http", model, args=args, cwd=site)
    server.site = site
    server.start()
    yield server
    status = server.stop()
    assert status == 0, server.log()


def fetch(conn: http.client.HTTPConnection, path: str) -> tuple[int, bytes]:
    conn.request("GET", path)
    reply = conn.getresponse()
    return reply.status, reply.read()


def peer_serial(server: ServerProcess, certificates) -> int:
    with tls_connection(server, certificates) as tls:
        der = tls.getpeercert(binary_form=True)
    return serial_of(der)


def tls_connection(server: ServerProcess, certificates) -> ssl.SSLSocket:
    raw = socket.create_connection((server.host, server.port), timeout=10)
    return client_context(certificates).wrap_socket(raw, server_hostname="localhost")


def assert_serves_a_good_client(server: ServerProcess, certificates) -> None:
    conn = http.client.HTTPSConnection(
        server.host, server.port, timeout=10, context=client_context(certificates)
    )
    try:
        assert fetch(conn, "/hello.txt") == (200, b"hello, static world\n")
    finally:
        conn.close()


# -- serving --------------------------------------------------------------------------------
def test_static_handler_and_wsgi_on_one_connection(https, certificates):
    big = (https.site / "root" / "big.bin").read_bytes()
    conn = http.client.HTTPSConnection(
        https.host, https.port, timeout=10, context=client_context(certificates)
    )
    try:
        assert fetch(conn, "/hello.txt") == (200, b"hello, static world\n")
        assert fetch(conn, "/big.bin") == (200, big)  # 300 KiB: no sendfile under TLS
        assert fetch(conn, "/hello/a?name=x") == (200, b"hello /a x\n")
        assert fetch(conn, "/flask/hello") == (200, b"hello from flask")
        lines = "".join(f"line {i}\n" for i in range(200)).encode()
        assert fetch(conn, "/flask/stream") == (200, lines)  # a producer (hybrid: off the loop)
        status, body = fetch(conn, "/wsgimod/")
        assert status == 200 and json.loads(body)["wsgi.url_scheme"] == "https"
    finally:
        conn.close()


def test_pipelined_requests_in_one_write(https, certificates):
    with tls_connection(https, certificates) as tls:
        tls.sendall(
            b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /flask/hello HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        reader = tls.makefile("rb")
        first, second = read_reply(reader), read_reply(reader)
    assert (first.status, first.body) == (200, b"hello, static world\n")
    assert (second.status, second.body) == (200, b"hello from flask")


def test_curl(https, certificates):
    out = subprocess.run(
        ["curl", "-sS", "--max-time", "20", "--cacert", str(certificates[1001][0]),
         f"https://127.0.0.1:{https.port}/hello.txt", f"https://127.0.0.1:{https.port}/hello"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout == "hello, static world\nhello /\n"


# -- hostile clients ------------------------------------------------------------------------
def test_clear_text_is_closed_with_a_log_line(https, certificates):
    failures = tls_failures(https)
    with https.connect() as sock:
        sock.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        assert closed_within(sock, 10) < 10
    wait_for(lambda: tls_failures(https) > failures, what="a TLS log line")
    assert_serves_a_good_client(https, certificates)


def tls_failures(server: ServerProcess) -> int:
    return sum("TLS with" in line for line in server.lines)


def test_truncated_client_hello_is_closed(https, certificates):
    hello = client_hello()
    failures = tls_failures(https)
    with https.connect() as sock:
        sock.sendall(hello[: len(hello) // 2])
        sock.shutdown(socket.SHUT_WR)
        assert closed_within(sock, 10) < 10
    wait_for(lambda: tls_failures(https) > failures, what="a TLS log line")
    assert_serves_a_good_client(https, certificates)


def test_stalled_handshake_is_closed_after_the_header_timeout(https, certificates):
    hello = client_hello()
    with https.connect() as sock:
        sock.sendall(hello[: len(hello) // 2])
        assert_serves_a_good_client(https, certificates)  # the staller holds no worker
        took = closed_within(sock, HEADER_TIMEOUT + 15)
    assert took < HEADER_TIMEOUT + 15
    wait_for(
        lambda: any("no TLS handshake within" in line for line in https.lines),
        what="the handshake timeout log line",
    )
    assert_serves_a_good_client(https, certificates)


# -- reload ---------------------------------------------------------------------------------
@pytest.mark.parametrize("model", MODELS)
def test_hup_loads_a_new_certificate(model, tmp_path, certificates):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    for target, source in zip((cert, key), certificates[1001], strict=True):
        shutil.copy(source, target)
    args = ["--certfile", str(cert), "--keyfile", str(key), "--root", str(tmp_path)]
    (tmp_path / "hello.txt").write_text("hello, static world\n")
    with ServerProcess("http", model, args=args, cwd=tmp_path) as server:
        assert peer_serial(server, certificates) == 1001
        # A connection open across the HUP keeps working, except where it would hold up the
        # test: iterative serves one connection at a time, and prefork's HUP replaces its
        # workers, which drain their clients.
        keeps_old = model not in ("iterative", "prefork")
        old = http.client.HTTPSConnection(
            server.host, server.port, timeout=10, context=client_context(certificates)
        )
        assert fetch(old, "/hello.txt")[0] == 200
        if not keeps_old:
            old.close()
        cert.write_text("not a certificate\n")  # a bad file: logged, the old one kept
        server.signal(signal.SIGHUP)
        wait_for(lambda: any("not reloaded" in line for line in server.lines), what="error")
        assert peer_serial(server, certificates) == 1001
        for target, source in zip((cert, key), certificates[2002], strict=True):
            shutil.copy(source, target)
        server.signal(signal.SIGHUP)
        wait_for(lambda: peer_serial(server, certificates) == 2002, what="the new certificate")
        if keeps_old:
            assert fetch(old, "/hello.txt")[0] == 200
            old.close()


# -- behind a proxy -------------------------------------------------------------------------
@pytest.mark.parametrize("model", MODELS)
def test_proxy_header_in_clear_then_tls(model, tmp_path, certificates):
    site = build_site(tmp_path)
    cert, key = certificates[1001]
    args = [*server_args(site, model), "--proxy-protocol"]
    args += ["--certfile", str(cert), "--keyfile", str(key)]
    with ServerProcess("http", model, args=args, cwd=site) as server, server.connect() as sock:
        header = f"PROXY TCP4 203.0.113.7 127.0.0.1 5555 {server.port}\r\n".encode()
        tls, incoming, outgoing = handshake_after(sock, header, client_context(certificates))
        tls.write(b"GET /flask/remote HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        sock.sendall(outgoing.read())
        reply = read_to_end(sock, tls, incoming)
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), reply
    assert json.loads(body) == {"remote": "203.0.113.7", "scheme": "https", "path": "/flask/remote"}


# -- configuration errors -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing certificate", "/nonexistent/cert.pem"),
        ("missing key", "/nonexistent/key.pem"),
        ("key of another certificate", "--keyfile"),
        ("not a certificate", "garbage.pem"),
        ("certificate alone", "--keyfile"),
        ("environment twins", "--keyfile"),
    ],
)
def test_tls_configuration_errors_exit_2_with_one_line(case, message, tmp_path, certificates):
    (cert, key), (_, other_key) = certificates[1001], certificates[2002]
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    args, env = {
        "missing certificate": (["--certfile", "/nonexistent/cert.pem", "--keyfile", key], {}),
        "missing key": (["--certfile", cert, "--keyfile", "/nonexistent/key.pem"], {}),
        "key of another certificate": (["--certfile", cert, "--keyfile", other_key], {}),
        "not a certificate": (["--certfile", garbage, "--keyfile", key], {}),
        "certificate alone": (["--certfile", cert], {}),
        "environment twins": ([], {"SERVER_CERTFILE": str(cert), "SERVER_KEYFILE": str(other_key)}),
    }[case]
    result = subprocess.run(
        [sys.executable, "-m", "server", "http", "--model", "epoll", "--bind", ":0",
         *map(str, args)],
        capture_output=True, text=True, timeout=30, cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", **env},
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr
