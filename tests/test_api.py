"""The library API: a protocol of your own, under any model, in a dozen lines."""

import pytest

from harness import ServerProcess, recv_exactly

APP = """
import sys
from server import log
from server.api import serve
from server.config import Settings
from server.net.protocol import Protocol
from server.service import ProtocolService


class Shout(Protocol):
    def data_received(self, data):
        self.transport.write(data.upper())


log.configure("info")
sys.exit(serve(ProtocolService("shout", stream=lambda loop: Shout()),
               Settings(model=sys.argv[1], bind="127.0.0.1:0", workers=2)))
"""


@pytest.mark.parametrize("model", ["epoll", "fork", "prefork"])
def test_serve_a_protocol_of_your_own(tmp_path, model):
    (tmp_path / "shout.py").write_text(APP)
    server = ServerProcess("-", model, cwd=tmp_path)
    server.command = [server.command[0], "shout.py", model]
    with server:
        with server.connect() as sock:
            sock.sendall(b"quiet words")
            assert recv_exactly(sock, 11) == b"QUIET WORDS"
        assert server.stop() == 0
