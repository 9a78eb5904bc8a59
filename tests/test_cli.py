"""The command line: listing models, environment twins, one-line errors with exit status 2."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from harness import MODELS, ROOT, ServerProcess, recv_exactly


def run_cli(*args: str, env: dict | None = None, timeout: float = 20):
    return subprocess.run(
        [sys.executable, "-m", "server", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )


def test_models_lists_every_model_with_a_line_of_advice():
    result = run_cli("models")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == MODELS
    assert all(len(line.split()) > 4 for line in lines)


@pytest.fixture
def busy_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield sock.getsockname()[1]
    sock.close()


# The handler service binds before it loads the handler: not its default port, which may be taken.
ANY_PORT = ["--bind", "127.0.0.1:0"]
ERRORS = [
    (["echo", "--model", "nope"], "invalid choice: 'nope'"),
    (["echo", "--frobnicate"], "unrecognized arguments: --frobnicate"),
    (["echo", "--bind", "127.0.0.1"], "expected HOST:PORT or unix:PATH"),
    (["echo", "--bind", "127.0.0.1:99999"], "port must be a number from 0 to 65535"),
    (["echo", "--bind", "::1:80"], "put IPv6 hosts in brackets"),
    (["echo", "--workers", "0"], "--workers must be at least 1"),
    (["echo", "--timeout", "abc"], "invalid float value: 'abc'"),
    (["echo", "--bind", "unix:"], "unix: needs a path"),
    (
        ["handler", "--model", "epoll", "--handler", "socketserver:BaseRequestHandler", *ANY_PORT],
        "cannot run a blocking socketserver handler",
    ),
    (
        [
            "handler",
            "--model",
            "prefork",
            "--handler",
            "socketserver:BaseRequestHandler",
            *ANY_PORT,
        ],
        "the prefork model with epoll workers serves every client from one thread",
    ),
    (["handler", *ANY_PORT], "--handler module:Class is required"),
    (["handler", "--handler", "no_such_module:X", *ANY_PORT], "cannot import no_such_module"),
    (
        ["handler", "--handler", "socketserver:TCPServer", *ANY_PORT],
        "is not a socketserver.BaseRequestHandler",
    ),
    ([], "the following arguments are required: command"),
    (["echo", "--udp", "--proxy-protocol"], "--proxy-protocol: PROXY headers start streams"),
    (["echo", "--forwarded-allow-ips", "192.0.2.0/99"], "'192.0.2.0/99' is not an IP address"),
    (["handler", "--proxy-protocol"], "unrecognized arguments: --proxy-protocol"),
]


@pytest.mark.parametrize("args,message", ERRORS, ids=[" ".join(a) or "none" for a, _ in ERRORS])
def test_bad_input_is_one_line_and_status_2(args, message):
    # port 0: the error expected must not hide behind a default port someone else holds
    result = run_cli(*args, env={"SERVER_BIND": "127.0.0.1:0"})
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert message in result.stderr


def test_port_in_use(busy_port):
    result = run_cli("echo", "--bind", f"127.0.0.1:{busy_port}")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"server: error: cannot bind 127.0.0.1:{busy_port}: address already in use"
    )


def test_unknown_model_from_the_environment():
    result = run_cli("echo", env={"SERVER_MODEL": "nope"})
    assert result.returncode == 2
    assert "unknown model 'nope'" in result.stderr


def test_bad_number_from_the_environment():
    result = run_cli("echo", env={"SERVER_WORKERS": "many"})
    assert result.returncode == 2
    assert "SERVER_WORKERS='many'" in result.stderr


def test_environment_twins_configure_the_server(tmp_path):
    env = {"SERVER_MODEL": "thread", "SERVER_UDP": "1", "SERVER_BIND": "127.0.0.1:0"}
    server = ServerProcess("echo", "thread", env=env, cwd=tmp_path)
    server.command = [sys.executable, "-m", "server", "echo"]  # nothing but the environment
    with server:
        assert "(datagram), model thread" in server.log()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(10)
            sock.sendto(b"env", server.sockaddr)
            assert sock.recv(10) == b"env"


def test_flag_beats_environment(tmp_path):
    server = ServerProcess("echo", "poll", env={"SERVER_MODEL": "thread"}, cwd=tmp_path)
    with server:
        assert "model poll" in server.log()
        with server.connect() as sock:
            sock.sendall(b"x")
            assert recv_exactly(sock, 1) == b"x"
