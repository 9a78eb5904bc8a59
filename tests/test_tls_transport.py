"""TLS started in the middle of a connection (FTP's AUTH TLS and data connections) on a real
transport: a socketpair, a blocking ssl client on a thread, the server's loop turned here."""

from __future__ import annotations

import socket
import ssl
import threading

import pytest
from test_proxy_gate import turn
from tls_support import make_certificate

from server.net.loop import EventLoop
from server.net.pollers import PollPoller
from server.net.protocol import Protocol
from server.net.stream_transport import StreamTransport
from server.net.tls import Handshake


class Upload(Protocol):
    """Reads until the peer's end of the stream; pauses as soon as TLS is ready."""

    def __init__(self, pause: bool = True):
        self.pause = pause
        self.received = b""
        self.ended = False
        self.ready = False

    def data_received(self, data: bytes) -> None:
        self.received += data

    def eof_received(self) -> bool:
        self.ended = True
        return True

    def secured(self) -> None:
        self.ready = True
        if self.pause:
            self.transport.pause_reading()  # as an FTP transfer does while it prepares


@pytest.fixture(scope="module")
def contexts(tmp_path_factory):
    cert, key = make_certificate(tmp_path_factory.mktemp("tls-transport"), 7)
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    return server, ssl.create_default_context(cafile=str(cert))


@pytest.mark.parametrize("pause", [True, False])
def test_an_upload_ends_with_close_notify_answered(contexts, pause):
    """Paused: what arrives meanwhile waits for resume_reading. Either way the client's
    close_notify, read with the last record (the socket then stays silent), ends the stream."""
    server_context, client_context = contexts
    loop = EventLoop(PollPoller)
    ours, theirs = socket.socketpair()
    theirs.settimeout(10)
    outcome: dict[str, object] = {}

    def client() -> None:
        """Sends, then closes with close_notify and waits for the server's (as ftplib does)."""
        with client_context.wrap_socket(theirs, server_hostname="localhost") as tls:
            tls.sendall(b"payload " * 1000)
            outcome["unwrapped"] = tls.unwrap() is not None

    protocol = Upload(pause)
    transport = StreamTransport(loop, ours, protocol, peer="")
    try:
        transport.start()
        Handshake(transport, server_context, 5.0, protocol.secured, tickets=False)
        thread = threading.Thread(target=client)
        thread.start()
        assert turn(loop, lambda: protocol.ready)
        if pause:
            turn(loop, limit=20)  # the payload and close_notify arrive; nothing is delivered
            assert protocol.received == b"" and not protocol.ended
            transport.resume_reading()
        assert turn(loop, lambda: protocol.ended)
        assert protocol.received == b"payload " * 1000
        transport.close()  # our close_notify answers theirs
        assert turn(loop, lambda: transport.closed or not thread.is_alive())
        thread.join(10)
        assert outcome == {"unwrapped": True}
    finally:
        transport.abort()
        theirs.close()
        loop.close()


def test_a_stalled_handshake_is_closed_with_a_log_line(contexts, caplog):
    server_context, _ = contexts
    loop = EventLoop(PollPoller)
    ours, theirs = socket.socketpair()
    protocol = Upload()
    transport = StreamTransport(loop, ours, protocol, peer="")
    try:
        transport.start()
        Handshake(transport, server_context, 0.2, protocol.secured)
        theirs.sendall(b"\x16\x03\x01")  # the start of a record, then nothing
        assert turn(loop, lambda: transport.closed)
        assert "no TLS handshake within 0.2s" in caplog.text
        assert not protocol.ready
    finally:
        theirs.close()
        loop.close()
