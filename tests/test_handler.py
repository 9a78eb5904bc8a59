"""A user's own socketserver handler runs under every blocking model (the seed's socketserver)."""

from __future__ import annotations

import socket
import threading

import pytest

from harness import BLOCKING_MODELS
from server.models import MODELS


def model_args(model: str) -> list[str]:
    """A model that runs another (prefork) runs a blocking one here."""
    return [] if MODELS[model].fits_in_prefork else ["--worker-model", "thread"]


HANDLERS = '''
import socketserver


class Upper(socketserver.StreamRequestHandler):
    """Answers each line in capitals, like the seed's StreamRequestHandler examples."""

    def handle(self):
        for line in self.rfile:
            self.wfile.write(line.upper())


class UpperDatagram(socketserver.DatagramRequestHandler):
    def handle(self):
        self.wfile.write(self.rfile.read().upper())
'''


@pytest.fixture
def handler_dir(tmp_path):
    (tmp_path / "myhandlers.py").write_text(HANDLERS)
    return tmp_path


@pytest.mark.parametrize("model", BLOCKING_MODELS)
def test_stream_handler(server_factory, handler_dir, model):
    server = server_factory(
        "handler",
        model,
        cwd=handler_dir,
        args=["--handler", "myhandlers:Upper", *model_args(model)],
    )
    results: list[bytes] = []

    def client(n: int) -> None:
        with server.connect() as sock, sock.makefile("rwb") as f:
            for i in range(3):
                f.write(b"line %d from %d\n" % (i, n))
                f.flush()
                results.append(f.readline())

    clients = 1 if model == "iterative" else 4
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert sorted(results) == sorted(
        b"LINE %d FROM %d\n" % (i, n) for n in range(clients) for i in range(3)
    )
    assert server.stop() == 0, server.log()


@pytest.mark.parametrize("model", BLOCKING_MODELS)
def test_datagram_handler(server_factory, handler_dir, model):
    server = server_factory(
        "handler",
        model,
        cwd=handler_dir,
        args=["--udp", "--handler", "myhandlers:UpperDatagram", *model_args(model)],
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(10)
        for i in range(3):
            sock.sendto(b"datagram %d" % i, server.sockaddr)
            assert sock.recv(100) == b"DATAGRAM %d" % i
    assert server.stop() == 0, server.log()


def test_handler_that_raises_is_logged_and_the_server_goes_on(server_factory, tmp_path):
    (tmp_path / "bad.py").write_text(
        "import socketserver\n"
        "class Bad(socketserver.BaseRequestHandler):\n"
        "    def handle(self):\n"
        "        raise ValueError('handler bug')\n"
    )
    server = server_factory("handler", "thread", cwd=tmp_path, args=["--handler", "bad:Bad"])
    for _ in range(2):
        with server.connect() as sock:
            assert sock.recv(1) == b""
    # The traceback is logged, folded onto one line with its message.
    assert any("Traceback" in line and "ValueError: handler bug" in line for line in server.lines)
    assert server.stop() == 0
