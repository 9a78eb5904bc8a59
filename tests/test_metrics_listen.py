"""`--metrics-listen`: Prometheus text on a side listener, for every service under every model.

The numbers must be what the clients did, summed over every process (fork children, prefork
workers), and served by the process that outlives them; forked children keep no copy of it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from harness import (
    MODELS,
    ROOT,
    metrics_port,
    raw_request,
    recv_exactly,
    run_concurrently,
    scrape,
    wait_for,
)


def start(server_factory, service: str, model: str, *args: str):
    server = server_factory(service, model, args=["--metrics-listen", "127.0.0.1:0", *args])
    return server, metrics_port(server)


@pytest.mark.parametrize("model", MODELS)
def test_echo_stream_counts(server_factory, model):
    server, port = start(server_factory, "echo", model)
    line = b"x" * 1000

    def client(n: int) -> None:
        with server.connect() as sock:
            for _ in range(3):
                sock.sendall(line)
                assert recv_exactly(sock, len(line)) == line

    run_concurrently(client, 4)
    values = wait_for(
        lambda: (v := scrape(port))["server_connections_open"] == 0 and v, 10,
        what="every connection counted out",
    )  # fmt: skip
    assert values['echo_bytes_total{transport="stream"}'] == 4 * 3 * len(line)
    assert values["server_connections_total"] == 4
    assert f'model="{model}"' in next(k for k in values if k.startswith("server_info"))
    assert server.stop() == 0, server.log()


@pytest.mark.parametrize("model", MODELS)
def test_echo_datagram_counts(server_factory, model):
    server, port = start(server_factory, "echo", model, "--udp")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(10)
        for size in (1, 100, 1000):
            sock.sendto(b"d" * size, (server.host, server.port))
            assert sock.recv(2048) == b"d" * size
    values = scrape(port)
    assert values["echo_datagrams_total"] == 3
    assert values['echo_bytes_total{transport="datagram"}'] == 1101
    assert server.stop() == 0, server.log()


def test_http_serves_it_too_without_counting_scrapes(server_factory, tmp_path):
    _, port = start(server_factory, "http", "epoll", "--root", str(tmp_path))
    for _ in range(3):
        scrape(port)
    values = scrape(port)
    assert values['http_requests_total{code="200"}'] == 0  # scrapes are not HTTP requests
    assert "http_request_duration_seconds_count" in values


def test_requests_other_than_get_metrics_get_a_clear_status(server_factory):
    server, port = start(server_factory, "echo", "epoll")
    status, headers, body = raw_request(port, b"HEAD /metrics HTTP/1.1\r\n\r\n")
    assert status == 200 and int(headers["Content-Length"]) > 0 and body == b""
    assert raw_request(port, b"GET /metrics?x=1 HTTP/1.0\r\n\r\n")[0] == 200
    assert raw_request(port, b"GET / HTTP/1.1\r\n\r\n")[:3:2] == (404, b"metrics are at /metrics\n")
    status, headers, _ = raw_request(port, b"POST /metrics HTTP/1.1\r\n\r\n")
    assert status == 405 and headers["Allow"] == "GET, HEAD"
    assert raw_request(port, b"hello there\r\n\r\n")[0] == 400
    assert raw_request(port, b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 9000)[0] == 431
    assert server.stop() == 0, server.log()


@pytest.mark.parametrize("model", ["fork", "prefork"])
def test_forked_children_keep_no_copy_of_the_metrics_socket(server_factory, model):
    server, port = start(server_factory, "echo", model)
    with server.connect() as client:  # under fork, a child serves it while this test looks
        client.sendall(b"hi")
        assert recv_exactly(client, 2) == b"hi"
        inode = _listening_inode(port)
        children = [pid for pid, _ in server.descendants()]
        assert children
        assert inode in _socket_inodes(server.proc.pid)
        assert all(inode not in _socket_inodes(pid) for pid in children)
    assert server.stop() == 0, server.log()


def _listening_inode(port: int) -> str:
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if int(fields[1].split(":")[1], 16) == port and fields[3] == "0A":  # LISTEN
                return fields[9]
    raise AssertionError(f"nothing listens on {port}")


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


@pytest.mark.parametrize(
    ("flags", "error"),
    [
        (["--bind", "127.0.0.1:17931", "--metrics-listen", "127.0.0.1:17931"],
         "cannot bind 127.0.0.1:17931: address already in use"),
        (["--metrics-listen", "nowhere"], "nowhere"),
    ],
)  # fmt: skip
def test_a_bad_metrics_address_is_one_line_and_status_2(flags, error):
    result = run_cli("echo", *flags)
    assert result.returncode == 2, result.stderr
    assert error in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_busy_metrics_address_is_one_line_and_status_2():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        result = run_cli("echo", "--bind", "127.0.0.1:0", "--metrics-listen", f"127.0.0.1:{taken}")
    assert result.returncode == 2
    assert f"cannot bind 127.0.0.1:{taken}: address already in use" in result.stderr


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "server", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=30, env=env)
