"""Options that change the server as a whole: environment twins, the ops prefix, the JSON
access log, and a graceful stop that does not wait for idle keep-alive clients."""

from __future__ import annotations

import json
import signal
import time

import pytest
from client import get, read_reply

from harness import MODELS, wait_for


def test_served_by_from_the_environment_and_a_custom_ops_prefix(server_factory, tmp_path):
    (tmp_path / "f.txt").write_text("f")
    server = server_factory(
        "http", "epoll",
        args=["--root", str(tmp_path), "--ops-prefix", "/_ops"],
        env={"SERVER_SERVED_BY": "node-7"},
    )  # fmt: skip
    reply = get(server, "/f.txt")
    assert reply.header("x-served-by") == "node-7"
    health = json.loads(get(server, "/_ops/health").body)
    assert health["served_by"] == "node-7" and health["model"] == "epoll"
    assert get(server, "/-/health").status == 404
    assert 'served_by="node-7"' in get(server, "/_ops/metrics").body.decode()


def test_empty_ops_prefix_disables_the_endpoints(server_factory, tmp_path):
    server = server_factory("http", "epoll", args=["--root", str(tmp_path), "--ops-prefix", ""])
    assert get(server, "/-/health").status == 404
    assert get(server, "/health").status == 404
    assert get(server, "/f").header("x-served-by") is None


def test_json_access_log(server_factory, tmp_path):
    (tmp_path / "f.txt").write_text("f")
    log = tmp_path / "access.json"
    server = server_factory(
        "http", "epoll",
        args=["--root", str(tmp_path), "--access-log", str(log), "--access-log-format", "json"],
    )  # fmt: skip
    get(server, "/f.txt", "User-Agent: probe/1\r\nX-Forwarded-For: 198.51.100.1\r\n")
    record = json.loads(wait_for(lambda: log.exists() and log.read_text(), what="log"))
    assert record["status"] == 200 and record["bytes"] == 1 and record["method"] == "GET"
    assert record["remote"] == "198.51.100.1" and record["user_agent"] == "probe/1"
    assert record["duration_ms"] >= 0


def test_unix_socket_and_forwarded_from_unix_peers(server_factory, tmp_path):
    (tmp_path / "handlers").mkdir()
    (tmp_path / "handlers" / "who.py").write_text(
        "def handle(request):\n    return {'remote': request.remote_addr}\n"
    )
    server = server_factory(
        "http", "epoll", bind=f"unix:{tmp_path}/http.sock",
        args=["--handlers", str(tmp_path / "handlers"), "--forwarded-allow-ips", "unix"],
    )  # fmt: skip
    assert json.loads(get(server, "/who").body) == {"remote": ""}
    proxied = get(server, "/who", "X-Forwarded-For: 192.0.2.44\r\n")
    assert json.loads(proxied.body) == {"remote": "192.0.2.44"}


@pytest.mark.parametrize("model", MODELS)
def test_sigterm_does_not_wait_for_idle_keep_alive_clients(server_factory, tmp_path, model):
    server = server_factory(
        "http", model, args=["--root", str(tmp_path), "--keepalive-timeout", "60"]
    )
    with server.connect() as sock, sock.makefile("rb") as reader:
        sock.sendall(b"GET /-/health HTTP/1.1\r\nHost: t\r\n\r\n")
        assert read_reply(reader).status == 200
        started = time.monotonic()
        server.signal(signal.SIGTERM)
        assert reader.read() == b""  # the idle connection is closed by the drain
    assert server.wait(20) == 0
    assert time.monotonic() - started < 10
