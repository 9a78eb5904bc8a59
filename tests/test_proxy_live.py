"""`--proxy-protocol` under every model, for echo, HTTP and FTP, through the real CLI.

The servers trust 127.0.0.1 only, so a client bound to 127.0.0.2 is an untrusted peer. The
clients the headers name are documentation addresses: header content, never destinations.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import struct

import pytest
from ftp_control import RawControl

from harness import MODELS, ServerProcess, recv_exactly, wait_for
from server.net.proxy import V2_SIGNATURE
from server.protocols.ftp.authorizer import Account, hash_password, write_users

CLIENT = "203.0.113.7"
HEADER_TIMEOUT = 2.0  # --timeout, which bounds the wait for a header
TRUST = ["--proxy-protocol", "--forwarded-allow-ips", "127.0.0.1", "--timeout", "2"]


def v1(client: str = CLIENT, port: int = 5555) -> bytes:
    return f"PROXY TCP4 {client} 192.0.2.1 {port} 21\r\n".encode()


def v2(client: str = CLIENT, port: int = 6666) -> bytes:
    addresses = ipaddress.ip_address(client).packed + ipaddress.ip_address("192.0.2.1").packed
    body = addresses + struct.pack("!HH", port, 21)
    return V2_SIGNATURE + b"\x21\x11" + struct.pack("!H", len(body)) + body


HEADERS = {"v1": (v1, 5555), "v2": (v2, 6666)}


def connect(server: ServerProcess, source: str = "127.0.0.1", port: int = 0) -> socket.socket:
    sock = socket.socket()
    sock.settimeout(10)
    sock.bind((source, 0))
    sock.connect((server.host, port or server.port))
    return sock


def closed_without_a_byte(sock: socket.socket) -> bool:
    with sock:
        try:
            return sock.recv(100) == b""
        except ConnectionResetError:
            return True


def logged(server: ServerProcess, text: str) -> str:
    """The first log line containing `text`, waited for (the server logs asynchronously)."""
    return wait_for(
        lambda: next((line for line in server.lines if text in line), None),
        what=f"a log line with {text!r}\n{server.log()}",
    )


REFUSALS = {
    # case: (source address, what the client sends, counter reason, the log line's reason)
    "garbage": ("127.0.0.1", b"GET / HTTP/1.1\r\n\r\n", "malformed", "not a PROXY header"),
    "damaged": ("127.0.0.1", b"PROXY TCP4 203.0.113.7 x 1 2\r\n", "malformed", "address 'x'"),
    "no header": ("127.0.0.1", b"", "timeout", "no complete PROXY header within 2s"),
    "untrusted": ("127.0.0.2", v1(), "untrusted", "not in --forwarded-allow-ips"),
}


def refuse(server: ServerProcess, case: str) -> None:
    """Each refusal: closed without an answer, and one warning naming the peer and reason."""
    source, sent, _, reason = REFUSALS[case]
    sock = connect(server, source)
    port = sock.getsockname()[1]
    if sent:
        sock.sendall(sent)
    assert closed_without_a_byte(sock)
    line = logged(server, f"closed a connection from {source} port {port}: ")
    assert "WARNING" in line and reason in line, line


# -- echo -------------------------------------------------------------------------------------
@pytest.fixture(scope="module", params=MODELS)
def echo(request):
    with ServerProcess("echo", request.param, args=[*TRUST, "--log-level", "debug"]) as server:
        yield server


@pytest.mark.parametrize("version", HEADERS)
def test_echo_sees_the_client_the_header_names(echo, version):
    make, port = HEADERS[version]
    with connect(echo) as sock:
        sock.sendall(make() + b"first bytes, same packet")
        assert recv_exactly(sock, 24) == b"first bytes, same packet"
        sock.sendall(b"more")
        assert recv_exactly(sock, 4) == b"more"
    logged(echo, f"connection from {CLIENT} port {port}")


@pytest.mark.parametrize("case", REFUSALS)
def test_echo_refuses(echo, case):
    refuse(echo, case)


@pytest.mark.parametrize("model", MODELS)
def test_a_list_without_the_peer_trusts_no_header_from_it(server_factory, model):
    args = ["--proxy-protocol", "--forwarded-allow-ips", "192.0.2.1"]
    server = server_factory("echo", model, args=args)
    sock = connect(server)
    port = sock.getsockname()[1]
    sock.sendall(v1())
    assert closed_without_a_byte(sock)
    line = logged(server, f"closed a connection from 127.0.0.1 port {port}")
    assert "not in --forwarded-allow-ips" in line


def test_echo_header_in_pieces(echo):
    header = v2(port=7777)
    with connect(echo) as sock:
        for i in range(len(header)):
            sock.sendall(header[i : i + 1])
        sock.sendall(b"ok")
        assert recv_exactly(sock, 2) == b"ok"
    logged(echo, f"connection from {CLIENT} port 7777")


# -- HTTP -------------------------------------------------------------------------------------
@pytest.fixture(scope="module", params=MODELS)
def http(request, tmp_path_factory):
    log = tmp_path_factory.mktemp("proxy-http") / "access.log"
    args = [*TRUST, "--access-log", str(log), "--threads", "4"]
    with ServerProcess("http", request.param, args=args) as server:
        server.access_log = log
        yield server


def http_get(server: ServerProcess, header: bytes, path: str, extra: str = "") -> bytes:
    with connect(server) as sock:
        sock.sendall(
            header + f"GET {path} HTTP/1.1\r\nHost: x\r\n{extra}Connection: close\r\n\r\n".encode()
        )
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize("version", HEADERS)
def test_http_sees_the_client_the_header_names(http, version):
    make, _ = HEADERS[version]
    path = f"/-/health?{version}"
    # The client's own X-Forwarded-For does not count: it came through a proxy, it is not one.
    answer = http_get(http, make(), path, "X-Forwarded-For: 198.51.100.9\r\n")
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
    line = wait_for(
        lambda: next((ln for ln in http.access_log.read_text().splitlines() if path in ln), None),
        what="the access log line",
    )
    assert line.startswith(f"{CLIENT} - - ["), line


@pytest.mark.parametrize("case", REFUSALS)
def test_http_refuses_and_counts(http, case):
    reason = REFUSALS[case][2]
    before = refused_count(http, reason)
    refuse(http, case)
    wait_for(lambda: refused_count(http, reason) == before + 1, what=f"the {reason} count")


def refused_count(server: ServerProcess, reason: str) -> int:
    metrics = http_get(server, b"PROXY UNKNOWN\r\n", "/-/metrics").decode()
    pattern = rf'^server_proxy_headers_refused_total{{reason="{reason}"}} (\d+)$'
    return int(re.search(pattern, metrics, re.MULTILINE).group(1))


# -- FTP --------------------------------------------------------------------------------------
@pytest.fixture(scope="module", params=MODELS)
def ftp(request, tmp_path_factory):
    base = tmp_path_factory.mktemp("proxy-ftp")
    root, home = base / "root", base / "alice"
    root.mkdir()
    home.mkdir()
    (root / "file.txt").write_bytes(b"through the proxy\n")
    users = base / "users"
    write_users(str(users), {"alice": Account("alice", hash_password("pw"), True, str(home))})
    args = [*TRUST, "--root", str(root), "--anonymous", "--users", str(users)]
    args += ["--max-per-ip", "2", "--data-timeout", "5"]
    with ServerProcess("ftp", request.param, args=args) as server:
        server.model = request.param
        server.home = home
        yield server


@pytest.mark.parametrize("version", HEADERS)
def test_ftp_sees_the_client_the_header_names(ftp, version):
    make, _ = HEADERS[version]
    control = RawControl(ftp, make())
    try:
        control.login()
        assert f"Connected from {CLIENT}\r\n" in control.command("STAT")
        assert control.command("QUIT").startswith("221 ")
    finally:
        control.close()
    logged(ftp, f"anonymous logged in from {CLIENT}")


def test_ftp_greets_only_after_the_header(ftp):
    sock = connect(ftp)
    with sock:
        sock.settimeout(0.5)
        with pytest.raises(TimeoutError):
            sock.recv(100)
        sock.settimeout(10)
        sock.sendall(v1("203.0.113.8"))
        assert sock.recv(100).startswith(b"220 ")


def test_ftp_passive_data_connection_carries_the_header_too(ftp):
    client = "203.0.113.9"
    control = RawControl(ftp, v1(client))
    try:
        control.login()
        assert control.command("TYPE I").startswith("200 ")
        port = int(re.search(r"\|\|\|(\d+)\|", control.command("EPSV")).group(1))
        stranger = connect(ftp, port=port)
        stranger.sendall(v1("198.51.100.9", 4000))
        assert closed_without_a_byte(stranger)  # another client's data connection: refused
        line = logged(ftp, "refused 198.51.100.9 port 4000 (PROXY header from 127.0.0.1")
        assert f"the client is {client}" in line
        with connect(ftp, port=port) as data:
            data.sendall(v2(client, 4001))
            assert control.command("RETR file.txt").startswith("150 ")
            received = b""
            while chunk := data.recv(65536):
                received += chunk
        assert received == b"through the proxy\n"
        assert control.reply().startswith("226 ")
    finally:
        control.close()


def test_ftp_upload_bytes_sent_with_the_data_header_are_kept(ftp):
    """The payload arrives with the header, before STOR: held until the upload reads."""
    client = "203.0.113.10"
    control = RawControl(ftp, v1(client))
    try:
        control.login("alice", "pw")
        assert control.command("TYPE I").startswith("200 ")
        port = int(re.search(r"\|\|\|(\d+)\|", control.command("EPSV")).group(1))
        with connect(ftp, port=port) as data:
            data.sendall(v2(client, 4002) + b"uploaded through the proxy")
            data.shutdown(socket.SHUT_WR)
            assert control.command("STOR up.txt").startswith("150 ")
            assert control.reply().startswith("226 ")
        assert (ftp.home / "up.txt").read_bytes() == b"uploaded through the proxy"
    finally:
        control.close()


def test_ftp_max_per_ip_counts_the_real_clients(ftp):
    """Two places per address: a third from one client is refused, another client is not."""
    held = []
    try:
        if ftp.model == "iterative":  # one client at a time: the others wait in the backlog
            held.append(RawControl(ftp, v1("203.0.113.50")))
            assert held[0].reply().startswith("220 ")
            assert "Connected from 203.0.113.50\r\n" in held[0].command("STAT")
            return
        for client in ("203.0.113.50", "203.0.113.50"):
            held.append(RawControl(ftp, v1(client)))
            assert held[-1].reply().startswith("220 ")
        third = RawControl(ftp, v1("203.0.113.50"))
        held.append(third)
        assert third.reply() == "421 Too many connections from your address (at most 2)."
        other = RawControl(ftp, v1("203.0.113.51"))
        held.append(other)
        assert other.reply().startswith("220 ")
    finally:
        for control in held:
            control.close()


@pytest.mark.parametrize("case", REFUSALS)
def test_ftp_refuses(ftp, case):
    refuse(ftp, case)
