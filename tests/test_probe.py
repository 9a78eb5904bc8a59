"""`python -m server probe URL`, run as HEALTHCHECKs run it, against real servers on loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading

import pytest

from harness import ROOT, ServerProcess

PROBE_FILE = str(ROOT / "server" / "commands" / "probe.py")


def probe(*args: str, env: dict[str, str] | None = None, lone: bool = False):
    """Run the probe as the CLI command, or (lone) as the file the HEALTHCHECKs run."""
    command = [sys.executable, "-I", PROBE_FILE] if lone else [sys.executable, "-m", "server"]
    return subprocess.run(
        [*command, *([] if lone else ["probe"]), *args],
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


@pytest.mark.parametrize("lone", [False, True], ids=["cli", "file"])
def test_url_from_environment(server_factory, lone):
    server = server_factory("echo", "select")
    env = {"SERVER_PROBE_URL": f"tcp://{server.address}", "SERVER_PROBE_TIMEOUT": "2"}
    result = probe(env=env, lone=lone)
    assert result.returncode == 0, result.stderr


def test_lone_file_answers_like_the_command():
    """The HEALTHCHECK's way: the same exit statuses, no package import."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"tcp://127.0.0.1:{sock.getsockname()[1]}"
        assert_unhealthy(probe(url, lone=True), "refused")
    result = probe("gopher://h:1", lone=True)
    assert result.returncode == 2 and "scheme must be one of" in result.stderr, result


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
        result = probe(f"ftp://{server.address}", lone=True)
        assert result.returncode == 0 and "220" in result.stdout, result
