"""FTPS clients for the tests: ftplib's FTP_TLS resuming the control connection's TLS session
on data connections (as lftp and FileZilla do), implicit TLS, and a raw control connection for
what ftplib will not send (PROXY headers, broken handshakes)."""

from __future__ import annotations

import ftplib
import socket
import ssl
from pathlib import Path

from ftp_control import RawControl
from tls_support import closed_within

from harness import ServerProcess, wait_for

TLS_TIMEOUT = 3.0  # --data-timeout of the FTPS servers: the bound on every handshake
BOUND = TLS_TIMEOUT + 10  # that bound, and room for a busy machine


def client_context(cafile: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cafile))


class FTPS(ftplib.FTP_TLS):
    """FTP_TLS; `resumed` holds, per protected data connection, whether its TLS session was
    the control connection's. `implicit`: TLS from the first byte, data protected by default."""

    def __init__(self, cafile: Path, implicit: bool = False, timeout: float = 15):
        super().__init__(context=client_context(cafile), timeout=timeout)
        self.implicit = implicit
        self.protect = implicit
        self.resumed: list[bool] = []

    def connect(self, host: str, port: int) -> str:
        if not self.implicit:
            return super().connect(host, port)
        self.host, self.port = host, port
        raw = socket.create_connection((host, port), self.timeout)
        self.sock = self.context.wrap_socket(raw, server_hostname=host)
        self.af = self.sock.family
        self.file = self.sock.makefile("r", encoding=self.encoding)
        self.welcome = self.getresp()
        return self.welcome

    def prot_p(self) -> str:
        self.protect = True
        return super().prot_p()

    def ntransfercmd(self, cmd: str, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self.protect:
            session = self.sock.session
            conn = self.context.wrap_socket(conn, server_hostname=self.host, session=session)
            self.resumed.append(conn.session_reused)
        return conn, size


def connect_ftps(server: ServerProcess, user: str | None, password: str = "") -> FTPS:
    """AUTH TLS, then a login (anonymous unless `user`), PBSZ 0 and PROT P."""
    client = FTPS(server.cafile)
    client.connect(server.host, server.port)
    client.auth()
    client.login(user or "anonymous", password or "guest@")
    client.prot_p()
    return client


class Control(RawControl):
    """A raw control connection: `prefix` (a PROXY header) first, TLS after `secure`."""

    def secure(self) -> None:
        assert self.command("AUTH TLS").startswith("234 ")
        context = client_context(self.server.cafile)
        self.sock = context.wrap_socket(self.sock, server_hostname="localhost")
        self.lines = self.sock.makefile("rb")


def assert_closed_with_a_log_line(
    server: ServerProcess, sock: socket.socket, count, before: int
) -> None:
    """The server closes `sock` within BOUND and logs why: `count(server)` goes past `before`
    (counted before the client misbehaved: the server may log at once)."""
    with sock:
        assert closed_within(sock, BOUND) < BOUND
    wait_for(lambda: count(server) > before, what=f"a log line\n{server.log()}")


def stalls_logged(server: ServerProcess) -> int:
    return sum("no TLS handshake within" in line for line in server.lines)


def tls_failures(server: ServerProcess) -> int:
    return sum("TLS with" in line for line in server.lines)
