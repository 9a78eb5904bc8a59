"""The FTP session as a sans-IO protocol: a recorded control connection, recorded links for its
data connections and a clock moved by hand -- no socket, loop or thread."""

from __future__ import annotations

import socket
from types import SimpleNamespace

import pytest
from recorded import ManualScheduler

from server.fs import Jail
from server.protocols.ftp.authorizer import Authorizer
from server.protocols.ftp.session import FTPSession
from server.protocols.ftp.settings import FTPSettings

CLIENT = ("192.0.2.1", 40000)


class Sink:
    """A connection as a protocol sees it, recording what is written."""

    def __init__(self, peer=CLIENT):
        self.peer, self.out, self.closing, self.closed = peer, bytearray(), False, False
        self.sock = SimpleNamespace(family=socket.AF_UNIX)  # no TCP options to set

    def write(self, data):
        self.out += data

    def send_file(self, file, offset, count, on_done):
        file.seek(offset)
        self.out += file.read(count)
        on_done(None)

    def sockname(self):
        return ("192.0.2.2", 21)

    def pending(self):
        return False

    def pause_reading(self):
        pass

    def resume_reading(self):
        pass

    def close(self):
        self.closing = self.closed = True

    abort = close

    def take(self) -> bytes:
        data, self.out = bytes(self.out), bytearray()
        return data


class Links:
    """Records the listeners asked for; `connect_client` plays a client connecting to one."""

    def __init__(self):
        self.listeners, self.dropped, self.data = [], [], []

    def listen(self, host, ports, accepted):
        listener = SimpleNamespace(port=30000 + len(self.listeners), accepted=accepted, open=True)
        listener.close = lambda: setattr(listener, "open", False)
        self.listeners.append(listener)
        return listener

    def connect_client(self, peer):
        conn = SimpleNamespace(close=lambda: self.dropped.append(peer))
        self.listeners[-1].accepted(conn, peer)

    def serve(self, sock, protocol, idle_timeout, peer):
        transport = Sink(peer)
        self.data.append(transport)
        protocol.connection_made(transport)
        return transport


@pytest.fixture
def ftp(tmp_path):
    (tmp_path / "file.txt").write_bytes(b"some bytes\n")
    scheduler, links, control = ManualScheduler(), Links(), Sink()
    session = FTPSession(
        FTPSettings(Authorizer(anonymous_root=str(tmp_path)), data_timeout=30),
        scheduler,
        links,
    )
    session.connection_made(control)
    session.user, session.fs = SimpleNamespace(name="anonymous", write=False), Jail(str(tmp_path))
    control.take()  # the banner
    return SimpleNamespace(session=session, clock=scheduler, links=links, control=control)


def test_a_passive_download_from_the_client_only(ftp):
    ftp.session.data_received(b"TYPE I\r\nPASV\r\nRETR file.txt\r\n")
    assert ftp.control.take().splitlines()[1] == b"227 Entering Passive Mode (192,0,2,2,117,48)."
    ftp.links.connect_client(("203.0.113.9", 5))  # someone else: dropped, still listening
    assert ftp.links.dropped == [("203.0.113.9", 5)] and ftp.links.listeners[0].open
    ftp.links.connect_client(CLIENT)
    assert not ftp.links.listeners[0].open  # one connection per channel
    assert ftp.links.data[0].out == b"some bytes\n" and ftp.links.data[0].closed
    assert ftp.control.take().splitlines() == [
        b"150 Opening BINARY mode data connection for /file.txt (11 bytes).",
        b"226 Transfer complete.",
    ]


def test_no_data_connection_within_the_data_timeout_is_a_425(ftp):
    ftp.session.data_received(b"PASV\r\nRETR file.txt\r\n")
    ftp.control.take()
    ftp.clock.advance(29.9)
    assert ftp.control.take() == b""
    ftp.clock.advance(0.1)
    assert ftp.control.take() == b"425 No data connection within 30s.\r\n"
    assert not ftp.links.listeners[0].open
