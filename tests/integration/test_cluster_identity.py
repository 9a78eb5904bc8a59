"""Client identity behind the balancer: nginx's stream module names each client in a PROXY
header, so FTP and echo replicas see the client nginx saw, not nginx itself."""

from __future__ import annotations

import ftplib
import re
import secrets
import socket

import pytest
from cluster_clients import ECHO_PORT, FTP_PORT, HOST

pytestmark = [pytest.mark.docker, pytest.mark.timeout(300)]


def test_an_ftp_replica_sees_the_client_nginx_saw(cluster):
    user = f"who-{secrets.token_hex(4)}"
    with ftplib.FTP(timeout=20) as ftp:
        ftp.connect(HOST, FTP_PORT)
        with pytest.raises(ftplib.error_perm, match=r"^530"):
            ftp.login(user, "not-the-password")
    line = cluster.log_line(["ftp-fork", "ftp-thread"], f"failed login as '{user}'")
    client = re.search(r" from (\S+)", line).group(1)
    assert client != cluster.address("nginx", "backend"), line  # what a replica saw before
    # nginx's own log line of that control connection names the same client
    seen_by_nginx = cluster.log_line("nginx", f"TCP {FTP_PORT} ->").split()[0]
    assert client == seen_by_nginx, (line, seen_by_nginx)


def test_echo_echoes_through_the_header_and_sees_the_client(cluster):
    """nginx sends the header before the client's bytes; the replica strips it and logs the
    client nginx saw."""
    token = secrets.token_bytes(64)
    with socket.create_connection((HOST, ECHO_PORT), timeout=10) as sock:
        sock.sendall(token)
        received = b""
        while len(received) < len(token):
            chunk = sock.recv(4096)
            assert chunk, "closed early"
            received += chunk
    assert received == token
    seen_by_nginx = cluster.log_line("nginx", f"TCP {ECHO_PORT} ->").split()[0]
    line = cluster.log_line("echo-tcp", f"connection from {seen_by_nginx} port")
    assert cluster.address("nginx", "backend") not in line
