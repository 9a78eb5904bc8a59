"""FTPS against hostile clients, under every model: broken, garbage and stalled handshakes
after AUTH TLS and on data connections, each closed in bounded time with a log line while the
server serves others (on an implicit-TLS port: test_ftp_tls_implicit.py)."""

from __future__ import annotations

import socket

from ftp_support import PASSWORDS, reply, retr
from ftps_support import (
    BOUND,
    Control,
    assert_closed_with_a_log_line,
    connect_ftps,
    stalls_logged,
    tls_failures,
)
from tls_support import client_hello, closed_within

from harness import wait_for


def assert_serves_a_good_client(site) -> None:
    with connect_ftps(site.server, None) as client:
        assert retr(client, "a.txt") == b"hello\n"


# -- the control connection -----------------------------------------------------------------
def after_auth(site, first: bytes = b"") -> socket.socket:
    control = Control(site.server)
    assert control.reply().startswith("220 ")
    control.sock.sendall(b"AUTH TLS\r\n" + first)
    assert control.reply().startswith("234 ")
    return control.sock


def test_broken_handshakes_after_auth_tls(ftps):
    server = ftps.server
    hello = client_hello()
    failed = tls_failures(server)
    garbage = after_auth(ftps)
    garbage.sendall(b"USER alice\r\nPASS alice-secret\r\n")  # clear text after the 234
    assert_closed_with_a_log_line(server, garbage, tls_failures, failed)
    failed = tls_failures(server)
    eager = after_auth(ftps, b"NOOP\r\n")  # with the AUTH line: read as TLS, never a command
    assert_closed_with_a_log_line(server, eager, tls_failures, failed)
    failed = tls_failures(server)
    truncated = after_auth(ftps)
    truncated.sendall(hello[: len(hello) // 2])
    truncated.shutdown(socket.SHUT_WR)
    assert_closed_with_a_log_line(server, truncated, tls_failures, failed)
    stalls = stalls_logged(server)
    stalled = after_auth(ftps)
    stalled.sendall(hello[: len(hello) // 2])
    assert_serves_a_good_client(ftps)  # the staller holds no worker (iterative: it waits)
    assert_closed_with_a_log_line(server, stalled, stalls_logged, stalls)
    assert_serves_a_good_client(ftps)


# -- data connections -----------------------------------------------------------------------
def test_data_connections_that_never_complete_their_handshake(ftps):
    server = ftps.server
    with connect_ftps(server, "bob", PASSWORDS["bob"]) as client:
        for send, count in ((b"", stalls_logged), (b"GET / HTTP/1.0\r\n\r\n", tls_failures)):
            before = count(server)
            port = int(reply(client, "EPSV").split("|")[3])
            with socket.create_connection((server.host, port), timeout=BOUND) as data:
                assert reply(client, "RETR bob.txt").startswith("150 ")
                data.sendall(send)
                assert closed_within(data, BOUND) < BOUND
            assert (
                client.getmultiline() == "425 TLS on the data connection failed; transfer aborted."
            )
            wait_for(lambda: count(server) > before, what=f"a log line\n{server.log()}")  # noqa: B023
        assert reply(client, "NOOP") == "200 NOOP okay."
        assert retr(client, "bob.txt") == b"bob's\n"  # the same session goes on
