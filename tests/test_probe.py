"""`python -m server probe URL`, run as HEALTHCHECKs run it, against real servers on loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading

import pytest
from tls_support import make_certificate

from harness import ROOT, ServerProcess


def probe(*args: str, env: dict[str, str] | None = None):
    """Run the probe as the HEALTHCHECKs run it."""
    return subprocess.run(
        [sys.executable, "-m", "server", "probe", *args],
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        capture_output=True,
        text=True,
        timeout=30,
    )


def assert_unhealthy(result: subprocess.CompletedProcess, reason: str) -> None:
    assert result.returncode == 1, result
    assert result.stderr.startswith("unhealthy: ") and reason in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1  # one line, as docker's health log shows it


@pytest.mark.parametrize("model", ["epoll", "thread"])
@pytest.mark.parametrize("scheme", ["tcp", "udp"])
def test_echo_is_healthy(server_factory, model, scheme):
    server = server_factory("echo", model, args=["--udp"] if scheme == "udp" else [])
    result = probe(f"{scheme}://{server.address}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"healthy: {scheme}://{server.address}: echoed")


def test_url_from_environment(server_factory):
    server = server_factory("echo", "select")
    env = {"SERVER_PROBE_URL": f"tcp://{server.address}", "SERVER_PROBE_TIMEOUT": "2"}
    result = probe(env=env)
    assert result.returncode == 0, result.stderr


def test_bad_scheme_is_a_usage_error():
    result = probe("gopher://h:1")
    assert result.returncode == 2 and "scheme must be one of" in result.stderr, result


LOADED_AFTER_A_PROBE = """
import sys
from server.cli import main
main(["probe", "--timeout", "1", "tcp://127.0.0.1:1"])
print(sorted(m for m in sys.modules if m.startswith(("server.protocols", "server.models"))))
"""


def test_probe_loads_no_service():
    """It runs every few seconds in every container: no protocol or model is imported."""
    result = subprocess.run(
        [sys.executable, "-c", LOADED_AFTER_A_PROBE], capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=30,
    )  # fmt: skip
    assert result.stdout.strip() == "[]", result


@pytest.mark.parametrize("scheme", ["tcp", "udp", "http", "ftp"])
def test_nothing_listening_is_unhealthy(scheme):
    kind = socket.SOCK_DGRAM if scheme == "udp" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        if kind == socket.SOCK_DGRAM:
            sock.close()  # a closed UDP port answers ICMP port unreachable
        # a bound TCP socket that never listens answers RST
        assert_unhealthy(probe(f"{scheme}://127.0.0.1:{port}", "--timeout", "1"), "refused")


def test_silent_server_is_unhealthy_within_timeout():
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        assert_unhealthy(probe(f"ftp://127.0.0.1:{port}", "--timeout", "0.5"), "within 0.5s")


@pytest.mark.parametrize(
    ("greeting", "healthy"),
    [
        (b"220 ready\r\n", True),
        (b"220-welcome\r\n220-to the library\r\n220 ready\r\n", True),
        (b"421 too many connections\r\n", False),
    ],
)
def test_ftp_greeting(greeting, healthy):
    with one_shot_server(greeting) as port:
        result = probe(f"ftp://127.0.0.1:{port}")
    if healthy:
        assert result.returncode == 0 and "220 ready" in result.stdout, result
    else:
        assert_unhealthy(result, "421 too many connections")


def test_wrong_echo_is_unhealthy():
    with one_shot_server(b"something else\n") as port:
        assert_unhealthy(probe(f"tcp://127.0.0.1:{port}"), "got back b'something else")


@pytest.mark.parametrize("url", ["gopher://h:1", "tcp://h", "tcp://:7", "http://h:99999/"])
def test_unusable_url_is_a_config_error(url):
    result = probe(url)
    assert result.returncode == 2 and "probe URL" in result.stderr, result


@pytest.mark.parametrize("model", ["fork", "threadpool"])
def test_http_health(tmp_path, model):
    with ServerProcess("http", model, args=["--root", str(tmp_path)]) as server:
        assert probe(f"http://{server.address}/-/health").returncode == 0
        assert_unhealthy(probe(f"http://{server.address}/no-such-file"), "HTTP 404")


class one_shot_server:
    """A listener on loopback that sends `reply` to each client as it connects."""

    def __init__(self, reply: bytes):
        self.reply = reply
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        with conn:
            conn.sendall(self.reply)
            conn.settimeout(5)
            try:
                conn.recv(1024)  # the prober's QUIT or echo token, then it hangs up
            except OSError:
                pass

    def __enter__(self) -> int:
        self.thread.start()
        return self.listener.getsockname()[1]

    def __exit__(self, *exc) -> None:
        self.listener.close()
        self.thread.join(5)


@pytest.mark.parametrize("model", ["fork", "thread"])
def test_ftp_service_greets(tmp_path, model):
    args = ["--anonymous", "--root", str(tmp_path)]
    with ServerProcess("ftp", model, args=args) as server:
        result = probe(f"ftp://{server.address}")
        assert result.returncode == 0 and "220" in result.stdout, result


def test_ftps_completes_the_handshake_and_says_so_without_a_certificate(tmp_path):
    """ftps://: AUTH TLS and a finished handshake (under --proxy-protocol too, as the deploy
    runs it); a server without a certificate answers AUTH with 502 and is unhealthy."""
    cert, key = make_certificate(tmp_path, 1)
    args = ["--anonymous", "--root", str(tmp_path), "--certfile", str(cert), "--keyfile", str(key)]
    env = {"SERVER_PROXY_PROTOCOL": "1"}
    with ServerProcess("ftp", "epoll", args=args, env=env) as server:
        result = probe(f"ftps://{server.address}", env=env)
        assert result.returncode == 0 and "AUTH TLS: TLSv1.3" in result.stdout, result
    with ServerProcess("ftp", "epoll", args=["--anonymous", "--root", str(tmp_path)]) as server:
        assert_unhealthy(probe(f"ftps://{server.address}"), "AUTH TLS answered '502 ")


PROXIED = {
    "tcp": ("echo", []),
    "ftp": ("ftp", ["--anonymous", "--root", "."]),
    "http": ("http", ["--root", "."]),
}


@pytest.mark.parametrize("scheme", PROXIED)
def test_a_server_behind_a_proxy_is_probed_with_a_proxy_header(server_factory, scheme):
    """SERVER_PROXY_PROTOCOL, set for the server, makes the probe send PROXY UNKNOWN first: the
    probe's own address, 127.0.0.1, is trusted by the default --forwarded-allow-ips."""
    service, args = PROXIED[scheme]
    env = {"SERVER_PROXY_PROTOCOL": "1"}
    server = server_factory(service, "epoll", args=args, env=env)
    path = "/-/health" if scheme == "http" else ""
    result = probe(f"{scheme}://{server.address}{path}", env=env)
    assert result.returncode == 0, result.stderr
    without = probe(f"{scheme}://{server.address}{path}", "--timeout", "2")
    assert without.returncode == 1, without  # the server closes a connection with no header
