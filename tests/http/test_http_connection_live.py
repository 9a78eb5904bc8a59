"""Connection behaviour under every model: keep-alive, pipelining, HTTP/1.0, request bodies
(Content-Length, chunked, 100-continue, spooled), timeouts, and real clients."""

from __future__ import annotations

import hashlib
import json
import os
import select
import socket
import time
from http.client import HTTPConnection

import requests
from client import exchange, read_reply, status_of
from conftest import HEADER_TIMEOUT, KEEPALIVE_TIMEOUT

from harness import run_concurrently


def url(http, path: str) -> str:
    return f"http://{http.host}:{http.port}{path}"


def test_keep_alive_serves_many_requests_on_one_connection(http):
    with http.connect() as sock:
        reader = sock.makefile("rb")
        for i in range(5):
            sock.sendall(f"GET /hello/{i} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
            reply = read_reply(reader)
            assert reply.status == 200 and reply.body == f"hello /{i}\n".encode()
            assert reply.header("connection") == "keep-alive"
        sock.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        last = read_reply(reader)
        assert last.header("connection") == "close"
        assert reader.read() == b""  # closed by the server


def test_pipelined_requests_are_answered_in_order(http):
    requests_ = [
        b"GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n",
        b"HEAD /big.bin HTTP/1.1\r\nHost: t\r\n\r\n",
        b"POST /echo/a HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello",
        b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET /teapot HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET /flask/hello HTTP/1.1\r\nHost: t\r\n\r\n",
        b"POST /echo/b HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n0\r\n\r\n",
        b"GET /hello/last HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    ]
    with http.connect() as sock:
        sock.sendall(b"".join(requests_))
        reader = sock.makefile("rb")
        replies = [read_reply(reader, head_only=(i == 1)) for i in range(len(requests_))]
        assert reader.read() == b""
    big = (http.site / "root" / "big.bin").read_bytes()
    assert [r.status for r in replies] == [200, 200, 200, 200, 418, 200, 200, 200]
    assert replies[0].body == b"hello, static world\n"
    assert replies[1].header("content-length") == str(len(big)) and replies[1].body == b""
    assert json.loads(replies[2].body)["subpath"] == "/a"
    assert replies[3].body == big
    assert replies[5].body == b"hello from flask"
    assert json.loads(replies[6].body)["length"] == 3
    assert replies[7].body == b"hello /last\n"


def test_half_closed_client_still_gets_every_answer(http):
    with http.connect() as sock:
        sock.sendall(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n" * 3)
        sock.shutdown(socket.SHUT_WR)
        reader = sock.makefile("rb")
        replies = [read_reply(reader) for _ in range(3)]
        assert reader.read() == b""
    assert [len(r.body) for r in replies] == [300 * 1024 + 7] * 3


def test_http10_closes_unless_keep_alive_is_asked(http):
    raw, closed = exchange(http, b"GET /hello.txt HTTP/1.0\r\n\r\n")
    assert status_of(raw) == 200 and closed and b"Connection: close" in raw
    with http.connect() as sock:
        reader = sock.makefile("rb")
        for _ in range(2):
            sock.sendall(b"GET /hello.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            reply = read_reply(reader)
            assert reply.status == 200 and reply.header("connection") == "keep-alive"


def test_streamed_body_on_http10_is_delimited_by_close(http):
    for ask in (b"", b"Connection: keep-alive\r\n"):
        raw, closed = exchange(http, b"GET /wsgimod/stream HTTP/1.0\r\n" + ask + b"\r\n")
        assert closed and b"Transfer-Encoding" not in raw and b"Connection: close" in raw
        assert raw.endswith(b"chunk 49\n")


def test_chunked_request_body(http):
    body = os.urandom(50_000)
    chunks = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(p), p) for p in (body[:7], body[7:], b""))
    head = b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
    head += b"Connection: close\r\n\r\n"
    raw, _ = exchange(http, head + chunks[:-2] + b"X-Trailer: yes\r\n\r\n")
    result = json.loads(raw.split(b"\r\n\r\n", 1)[1])
    assert result["length"] == len(body)
    assert result["sha256"] == hashlib.sha256(body).hexdigest()


def test_expect_100_continue(http):
    with http.connect() as sock:
        sock.sendall(
            b"POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"
        )
        reader = sock.makefile("rb")
        interim = reader.readline()
        assert interim == b"HTTP/1.1 100 Continue\r\n" and reader.readline() == b"\r\n"
        sock.sendall(b"body")
        assert json.loads(read_reply(reader).body)["length"] == 4


def test_large_body_is_spooled_and_intact(http):
    body = os.urandom(2 * 1024 * 1024 + 3)  # past the 1 MiB spool threshold
    reply = requests.post(url(http, "/wsgimod/input"), data=body)
    result = reply.json()
    assert result["length"] == len(body)
    assert result["sha256"] == hashlib.sha256(body).hexdigest()
    assert result["type"] != "BytesIO"  # a real temporary file
    small = requests.post(url(http, "/wsgimod/input"), data=b"line one\nline two\nthree\n")
    assert small.json()["first"] == "line one\n" and small.json()["lines"] == 2


def test_slow_head_is_dropped_with_408(http):
    with http.connect(timeout=HEADER_TIMEOUT + 5) as sock:
        started = time.monotonic()
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n")
        raw = b""
        try:
            for i in range(int(HEADER_TIMEOUT * 10) + 30):  # a header line every 0.1 s
                sock.sendall(b"X-Drip-%d: x\r\n" % i)
                if select.select([sock], [], [], 0.1)[0]:  # the server has answered
                    break
        except (BrokenPipeError, ConnectionResetError):
            pass
        sock.settimeout(5)
        try:
            while chunk := sock.recv(4096):
                raw += chunk
        except ConnectionResetError:
            pass
        elapsed = time.monotonic() - started
    assert status_of(raw) == 408, raw
    assert elapsed < HEADER_TIMEOUT + 3


def test_idle_keep_alive_connection_is_closed(http):
    with http.connect(timeout=KEEPALIVE_TIMEOUT + 5) as sock:
        sock.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n")
        reader = sock.makefile("rb")
        assert read_reply(reader).status == 200
        started = time.monotonic()
        assert reader.read() == b""
        assert KEEPALIVE_TIMEOUT - 0.5 < time.monotonic() - started < KEEPALIVE_TIMEOUT + 3


def test_http_client_and_requests_session(http):
    conn = HTTPConnection(http.host, http.port, timeout=10)
    try:
        for path in ("/hello.txt", "/flask/hello", "/hello/x"):
            conn.request("GET", path)
            response = conn.getresponse()
            assert response.status == 200 and response.read()
        conn.request("POST", "/echo", body=b"x" * 1000, headers={"X-Test": "yes"})
        echoed = json.loads(conn.getresponse().read())
        assert echoed["length"] == 1000 and echoed["x_test"] == "yes"
    finally:
        conn.close()
    with requests.Session() as session:
        for _ in range(10):
            assert session.get(url(http, "/1k.bin")).status_code == 200
        chunked = session.post(url(http, "/echo"), data=iter([b"abc", b"defg"]))
        assert chunked.json()["length"] == 7


def test_concurrent_clients(http):
    def client(n: int) -> None:
        with requests.Session() as session:
            for i in range(5):
                reply = session.get(url(http, f"/hello/{n}-{i}"))
                assert reply.text == f"hello /{n}-{i}\n"

    run_concurrently(client, 6)
