"""`python -m server probe URL`: one health check, for container HEALTHCHECKs and scripts.

    http://HOST:PORT/PATH   GET PATH, healthy on a 2xx status
    ftp://HOST:PORT         healthy on a 220 greeting (then QUIT)
    ftps://HOST:PORT        the same, then AUTH TLS: healthy once the TLS handshake completes
                            (the certificate is not verified: the endpoint's health, not trust)
    tcp://HOST:PORT         healthy when a token sent comes back unchanged (echo)
    udp://HOST:PORT         the same with one datagram (retried, since datagrams may be lost)

Exit status 0 when healthy, 1 with a one-line reason on stderr when not, 2 for a URL we cannot
use. The URL and timeout default to SERVER_PROBE_URL and SERVER_PROBE_TIMEOUT, so one image
HEALTHCHECK line serves every service: each container sets the URL that fits it. (The twins
are not SERVER_URL/SERVER_TIMEOUT because SERVER_TIMEOUT is the service's idle timeout.)

A server run with `--proxy-protocol` closes every connection that does not start with a PROXY
header, so `--proxy-protocol` (SERVER_PROXY_PROTOCOL, the server's own twin: set in the same
container, it applies to both) sends `PROXY UNKNOWN` first on http, ftp(s) and tcp. UNKNOWN keeps
the probe's own address, 127.0.0.1, which the server must trust: the default
`--forwarded-allow-ips` (127.0.0.1,::1) does.
It runs every few seconds in every container, so it imports nothing it does not need.
"""

from __future__ import annotations

import os
import re
import socket
import sys
import time
from urllib.parse import urlsplit

from ..errors import ConfigError
from .base import Tool, add_option

DEFAULT_PORTS = {"http": 80, "ftp": 21, "ftps": 21}
URL_ENV = "SERVER_PROBE_URL"
TIMEOUT_ENV = "SERVER_PROBE_TIMEOUT"
_FTP_FINAL_LINE = re.compile(rb"^(\d{3}) ", re.MULTILINE)
_STATUS_LINE = re.compile(rb"HTTP/\d\.\d (\d{3})(.*)")
PROXY_UNKNOWN = b"PROXY UNKNOWN\r\n"  # v1: "a proxy speaks for itself", peer address stands


class Unhealthy(Exception):
    """The target answered wrongly or not at all; the message is the one-line reason."""


class Target:
    """Where to probe: scheme, host, port and (http) the path with its query."""

    def __init__(self, scheme: str, host: str, port: int, path: str):
        self.scheme, self.host, self.port, self.path = scheme, host, port, path
        self.proxy_header = False  # start stream connections with PROXY_UNKNOWN

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        path = self.path if self.scheme == "http" else ""
        return f"{self.scheme}://{host}:{self.port}{path}"


def parse_target(url: str) -> Target:
    """Split a probe URL, raising ConfigError naming what is wrong with it."""
    parts = urlsplit(url.strip())
    if parts.scheme not in PROBES:
        raise ConfigError(f"probe URL {url!r}: scheme must be one of {', '.join(PROBES)}")
    try:
        port = parts.port or DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        raise ConfigError(f"probe URL {url!r}: bad port") from None
    if not parts.hostname or not port:
        raise ConfigError(f"probe URL {url!r}: expected {parts.scheme}://HOST:PORT")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(parts.scheme, parts.hostname, port, path)


def probe_http(target: Target, timeout: float) -> str:
    # A raw GET rather than http.client, whose imports (ssl, email) cost the HEALTHCHECK more
    # CPU than everything else it does. Only the status line matters.
    host = f"[{target.host}]" if ":" in target.host else target.host
    request = (
        f"GET {target.path} HTTP/1.1\r\nHost: {host}:{target.port}\r\n"
        "User-Agent: server-probe\r\nConnection: close\r\n\r\n"
    )
    with _connect(target, socket.SOCK_STREAM, timeout) as sock:
        sock.sendall(request.encode("ascii"))
        head = _read_line(sock, "status line")
    match = _STATUS_LINE.match(head)
    if not match:
        raise Unhealthy(f"not an HTTP status line: {head[:80]!r}")
    status, reason = int(match.group(1)), match.group(2).decode("latin-1").strip()
    if not 200 <= status < 300:
        raise Unhealthy(f"HTTP {status} {reason}".strip())
    return f"HTTP {status}"


def _read_line(sock: socket.socket, what: str) -> bytes:
    data = b""
    while b"\n" not in data:
        if len(data) > 8192:
            raise Unhealthy(f"{what} longer than 8 KiB")
        chunk = sock.recv(4096)
        if not chunk:
            raise Unhealthy(f"closed before a full {what} ({data[:80]!r})")
        data += chunk
    return data.split(b"\n", 1)[0].rstrip(b"\r")


def probe_ftp(target: Target, timeout: float) -> str:
    with _connect(target, socket.SOCK_STREAM, timeout) as sock:
        greeting = _greeted(sock)
        try:
            sock.sendall(b"QUIT\r\n")
        except OSError:
            pass  # the greeting is what we judge; a server that hung up already is fine
    return greeting


def probe_ftps(target: Target, timeout: float) -> str:
    """Explicit FTPS (RFC 4217): the greeting, AUTH TLS, a completed handshake, QUIT."""
    import ssl  # here only: the other probes, run every few seconds, need not import it

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with _connect(target, socket.SOCK_STREAM, timeout) as sock:
        _greeted(sock)
        sock.sendall(b"AUTH TLS\r\n")
        reply = _read_ftp_reply(sock)
        if not reply.startswith("234 "):
            raise Unhealthy(f"AUTH TLS answered {reply[:80]!r}, expected 234")
        with context.wrap_socket(sock) as tls:
            tls.sendall(b"QUIT\r\n")
            return f"AUTH TLS: {tls.version()} {tls.cipher()[0]}"


def _greeted(sock: socket.socket) -> str:
    greeting = _read_ftp_reply(sock)
    code, _, text = greeting.partition(" ")
    if code != "220":
        raise Unhealthy(f"greeting {greeting!r}, expected 220")
    return f"220 {text}".strip()


def _read_ftp_reply(sock: socket.socket) -> str:
    """The final line of the server's first (possibly multi-line) reply."""
    data = b""
    while len(data) < 8192:
        chunk = sock.recv(4096)
        if not chunk:
            raise Unhealthy(f"closed before a full greeting ({data[:80]!r})")
        data += chunk
        match = _FTP_FINAL_LINE.search(data)
        if match and data.endswith(b"\n"):
            return data[match.start() :].splitlines()[0].decode("utf-8", "replace")
    raise Unhealthy("greeting longer than 8 KiB")


def probe_tcp(target: Target, timeout: float) -> str:
    token = _token()
    with _connect(target, socket.SOCK_STREAM, timeout) as sock:
        sock.sendall(token)
        echoed = b""
        while len(echoed) < len(token):
            chunk = sock.recv(len(token) - len(echoed))
            if not chunk:
                break
            echoed += chunk
    if echoed != token:
        raise Unhealthy(f"sent {len(token)} bytes, got back {echoed[:80]!r}")
    return f"echoed {len(token)} bytes"


def probe_udp(target: Target, timeout: float, attempts: int = 3) -> str:
    token = _token()
    with _connect(target, socket.SOCK_DGRAM, timeout / attempts) as sock:
        for _ in range(attempts):
            sock.send(token)
            try:
                echoed = sock.recv(65536)
            except TimeoutError:
                continue
            if echoed != token:
                raise Unhealthy(f"sent {len(token)} bytes, got back {echoed[:80]!r}")
            return f"echoed {len(token)} bytes"
    raise Unhealthy(f"no echo after {attempts} datagrams")


def _token() -> bytes:
    return f"probe {os.urandom(8).hex()}\n".encode()


def _connect(target: Target, kind: int, timeout: float) -> socket.socket:
    """A socket connected to the target (for UDP: to receive only the target's datagrams)."""
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=kind)
    except socket.gaierror as exc:
        raise Unhealthy(f"cannot resolve {target.host}: {exc.strerror}") from None
    family, socktype, proto, _, sockaddr = infos[0]
    sock = socket.socket(family, socktype, proto)
    sock.settimeout(timeout)
    try:
        sock.connect(sockaddr)
        if target.proxy_header and kind == socket.SOCK_STREAM:
            sock.sendall(PROXY_UNKNOWN)
    except BaseException:
        sock.close()
        raise
    return sock


PROBES = {
    "http": probe_http,
    "ftp": probe_ftp,
    "ftps": probe_ftps,
    "tcp": probe_tcp,
    "udp": probe_udp,
}


def check(url: str, timeout: float, proxy_header: bool = False) -> str:
    """Probe once; the success summary, or Unhealthy with the reason."""
    target = parse_target(url)
    target.proxy_header = proxy_header
    started = time.monotonic()
    try:
        summary = PROBES[target.scheme](target, timeout)
    except TimeoutError:
        raise Unhealthy(f"{target}: no answer within {timeout:g}s") from None
    except OSError as exc:
        raise Unhealthy(f"{target}: {_reason(exc)}") from None
    except Unhealthy as exc:
        raise Unhealthy(f"{target}: {exc}") from None
    return f"{target}: {summary} in {1000 * (time.monotonic() - started):.0f} ms"


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def add_arguments(parser) -> None:
    parser.add_argument(
        "url",
        nargs="?",
        default=os.environ.get(URL_ENV),
        help=f"http://HOST:PORT/PATH, ftp[s]://HOST:PORT, tcp://HOST:PORT or udp://HOST:PORT "
        f"[env {URL_ENV}]",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        # a string default is converted only when used, so a bad twin never breaks other commands
        default=os.environ.get(TIMEOUT_ENV, "5"),
        help=f"seconds to wait for each step (default 5) [env {TIMEOUT_ENV}]",
    )
    add_option(
        parser,
        "--proxy-protocol",
        action="store_true",
        help="send PROXY UNKNOWN first on http, ftp, ftps and tcp (a server run with "
        "--proxy-protocol)",
    )


def run(args) -> int:
    if not args.url:
        raise ConfigError(f"probe: give a URL or set {URL_ENV}")
    if args.timeout <= 0:
        raise ConfigError("--timeout must be more than 0 seconds")
    try:
        print(f"healthy: {check(args.url, args.timeout, args.proxy_protocol)}")
    except Unhealthy as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1
    return 0


PROBE = Tool(add_arguments=add_arguments, run=run)
