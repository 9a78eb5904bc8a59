"""Echo through nginx's stream proxy: TCP and UDP on the same port."""

from __future__ import annotations

import os
import socket

import pytest
from cluster_clients import ECHO_PORT, HOST

pytestmark = [pytest.mark.docker, pytest.mark.timeout(600)]


def test_tcp_echo(cluster):
    with socket.create_connection((HOST, ECHO_PORT), timeout=10) as sock:
        for size in (1, 100, 64 * 1024):
            data = os.urandom(size)
            sock.sendall(data)
            got = b""
            while len(got) < size:
                chunk = sock.recv(65536)
                assert chunk, "closed early"
                got += chunk
            assert got == data


def test_udp_echo(cluster):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        sock.connect((HOST, ECHO_PORT))
        answered = 0
        for n in range(10):
            datagram = f"datagram {n} {os.urandom(4).hex()}".encode()
            sock.send(datagram)
            try:
                assert sock.recv(65536) == datagram
                answered += 1
            except TimeoutError:
                continue  # UDP may drop one; most must come back
        assert answered >= 8
