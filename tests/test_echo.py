"""Echo under every model and every transport, with real sockets on loopback."""

from __future__ import annotations

import os
import socket
import threading

import pytest

from harness import MODELS, echo_concurrently, recv_exactly, run_concurrently

TRANSPORTS = {
    "tcp4": ("127.0.0.1:0", []),
    "tcp6": ("[::1]:0", []),
    "unix": ("unix:{tmp}/echo.sock", []),
    "udp4": ("127.0.0.1:0", ["--udp"]),
    "udp6": ("[::1]:0", ["--udp"]),
    "unixdgram": ("unix:{tmp}/echo-dgram.sock", ["--udp"]),
}


def start_echo(server_factory, tmp_path, model, transport, extra=()):
    bind, args = TRANSPORTS[transport]
    return server_factory("echo", model, bind=bind.format(tmp=tmp_path), args=[*args, *extra])


def datagram_client(server, tmp_path, name="client"):
    sock = socket.socket(server.family, socket.SOCK_DGRAM)
    sock.settimeout(10)
    if server.family == socket.AF_UNIX:
        sock.bind(str(tmp_path / f"{name}-{threading.get_ident()}.sock"))  # to be answerable
    return sock


@pytest.mark.parametrize("transport", ["tcp4", "tcp6", "unix"])
@pytest.mark.parametrize("model", MODELS)
def test_stream_echo(server_factory, tmp_path, model, transport):
    server = start_echo(server_factory, tmp_path, model, transport)
    echo_concurrently(server)
    assert server.stop() == 0, server.log()


@pytest.mark.parametrize("model", MODELS)
def test_large_payload_is_echoed_intact(server_factory, tmp_path, model):
    """4 MiB in and out: partial writes, backpressure and reading in pieces all hold."""
    server = start_echo(server_factory, tmp_path, model, "tcp4")
    payload = os.urandom(4 * 1024 * 1024)
    with server.connect(timeout=30) as sock:
        sender = threading.Thread(target=sock.sendall, args=(payload,))
        sender.start()
        received = recv_exactly(sock, len(payload))
        sender.join()
    assert received == payload


@pytest.mark.parametrize("transport", ["udp4", "udp6", "unixdgram"])
@pytest.mark.parametrize("model", MODELS)
def test_datagram_echo(server_factory, tmp_path, model, transport):
    server = start_echo(server_factory, tmp_path, model, transport)

    def client(n: int) -> None:
        with datagram_client(server, tmp_path, f"c{n}") as sock:
            for i in range(5):
                message = f"datagram {n}.{i}".encode()
                sock.sendto(message, server.sockaddr)
                assert sock.recvfrom(65535)[0] == message

    run_concurrently(client, 4)
    assert server.stop() == 0, server.log()


def test_unix_socket_file_is_removed_on_exit(server_factory, tmp_path):
    server = start_echo(server_factory, tmp_path, "epoll", "unix")
    assert os.path.exists(server.path)
    assert server.stop() == 0
    assert not os.path.exists(server.path)
