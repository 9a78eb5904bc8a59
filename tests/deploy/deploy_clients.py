"""FTP, echo and HTTPS clients for the deploy tests, through the balancer's ports on 127.0.0.1.

FTP logs in as the demo user of docker/ftp-users (library/library), which the test versions'
image carries; passive mode, as every client behind a balancer uses."""

from __future__ import annotations

import contextlib
import ftplib
import http.client
import io
import secrets
import socket
import ssl

USER = PASSWORD = "library"


def _login(port: int, timeout: float, cafile: str | None = None) -> ftplib.FTP:
    """A session as the demo user; with `cafile`, FTPS (AUTH TLS before the login, then PBSZ 0
    and PROT P) with the server's certificate verified against it."""
    if cafile:
        context = ssl.create_default_context(cafile=cafile)
        ftp = ftplib.FTP_TLS(context=context, timeout=timeout)
    else:
        ftp = ftplib.FTP(timeout=timeout)
    try:
        ftp.connect("127.0.0.1", port)
        ftp.login(USER, PASSWORD)
        if cafile:
            ftp.prot_p()
    except BaseException:
        ftp.close()
        raise
    return ftp


def ftp_version(port: int, timeout: float = 10.0) -> str:
    """One session: log in, LIST, RETR version.txt (two data connections); its content."""
    with _login(port, timeout) as ftp:
        listing: list[str] = []
        ftp.retrlines("LIST", listing.append)
        if not any(line.endswith(" version.txt") for line in listing):
            raise ValueError(f"version.txt is not listed: {listing}")
        data = bytearray()
        ftp.retrbinary("RETR version.txt", data.extend)
        return data.decode().strip()


def ftp_round_trip(
    port: int, size: int = 256 * 1024, timeout: float = 10.0, cafile: str | None = None
) -> None:
    """STOR a file, RETR it back unchanged and delete it, in one session (one host); with
    `cafile` over FTPS, control and data connections."""
    name = f"upload-{secrets.token_hex(4)}.bin"
    payload = secrets.token_bytes(size)
    with _login(port, timeout, cafile) as ftp:
        ftp.storbinary(f"STOR {name}", io.BytesIO(payload))
        try:
            assert ftp.size(name) == size
            back = bytearray()
            ftp.retrbinary(f"RETR {name}", back.extend)
            assert bytes(back) == payload, "RETR returned other bytes than STOR sent"
        finally:
            ftp.delete(name)


def echo_tcp(port: int, payload: bytes, timeout: float = 10.0) -> bytes:
    """Send `payload` and read as many bytes back (no half-close: nginx's stream proxy would
    end the whole session on it)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(payload)
        back = bytearray()
        while len(back) < len(payload) and (chunk := sock.recv(65536)):
            back += chunk
        return bytes(back)


def echo_udp(port: int, payload: bytes, timeout: float = 3.0, attempts: int = 5) -> bytes:
    """One datagram there and back (sent again if one is lost)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        for _ in range(attempts - 1):
            sock.sendto(payload, ("127.0.0.1", port))
            with contextlib.suppress(TimeoutError):
                return sock.recv(65536)
        sock.sendto(payload, ("127.0.0.1", port))
        return sock.recv(65536)


def https_served_by(port: int, cafile: str, requests: int, timeout: float = 30.0) -> set[str]:
    """`requests` GETs of /-/health on one kept-alive TLS connection verified with `cafile`,
    each answered 200: the X-Served-By values seen."""
    context = ssl.create_default_context(cafile=cafile)
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=timeout)
    served = set()
    try:
        for _ in range(requests):
            conn.request("GET", "/-/health")
            response = conn.getresponse()
            response.read()
            assert response.status == 200, f"{response.status} over HTTPS"
            served.add(response.getheader("X-Served-By", ""))
    finally:
        conn.close()
    return served
