"""What the TLS suites (HTTPS, FTPS) share: throwaway certificates from the openssl CLI, the
bytes a TLS client sends first, and a wait for the server to close."""

from __future__ import annotations

import socket
import ssl
import subprocess
import time
from pathlib import Path


def make_certificate(folder: Path, serial: int) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 with this serial, and its key."""
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
         "-keyout", str(key), "-out", str(cert), "-set_serial", str(serial),
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def serial_of(der: bytes) -> int:
    """The serial number of a certificate (DER), as the openssl CLI reads it."""
    pem = ssl.DER_cert_to_PEM_cert(der)
    out = subprocess.run(
        ["openssl", "x509", "-noout", "-serial"], input=pem, text=True, capture_output=True
    ).stdout
    return int(out.strip().partition("=")[2], 16)


def client_hello() -> bytes:
    """The bytes a TLS client sends first."""
    hello = ssl.create_default_context().wrap_bio(
        ssl.MemoryBIO(), (out := ssl.MemoryBIO()), server_hostname="localhost"
    )
    try:
        hello.do_handshake()
    except ssl.SSLWantReadError:
        return out.read()
    raise AssertionError("a handshake finished without a server")


def closed_within(sock: socket.socket, seconds: float) -> float:
    """Read until the server closes; how long that took (fails past `seconds`)."""
    sock.settimeout(seconds)
    start = time.monotonic()
    try:
        while sock.recv(4096):
            pass
    except ConnectionResetError:
        pass
    return time.monotonic() - start


def handshake_after(sock: socket.socket, prefix: bytes, context: ssl.SSLContext):
    """A TLS client on memory buffers whose first write is `prefix` + its ClientHello, so the
    server's PROXY gate reads TLS bytes past its header. Returns (tls, incoming, outgoing)."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            sock.sendall(prefix + outgoing.read())
            prefix = b""
            data = sock.recv(65536)
            assert data, "the server closed during the handshake"
            incoming.write(data)
    sock.sendall(outgoing.read())
    return tls, incoming, outgoing


def read_to_end(sock: socket.socket, tls: ssl.SSLObject, incoming: ssl.MemoryBIO) -> bytes:
    chunks = []
    while True:
        try:
            chunk = tls.read(65536)
            if not chunk:  # the server's close_notify
                break
            chunks.append(chunk)
            continue
        except ssl.SSLWantReadError:
            pass
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            break
        data = sock.recv(65536)
        if not data:
            break
        incoming.write(data)
    return b"".join(chunks)
