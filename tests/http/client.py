"""Small raw-socket HTTP helpers for tests that must control every byte."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Reply:
    status: int
    reason: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def read_reply(reader, head_only: bool = False) -> Reply:
    """One response from a buffered socket reader (Content-Length, chunked or to EOF)."""
    line = reader.readline()
    if not line:
        raise EOFError("connection closed before a response")
    version, status, reason = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
    assert version == "HTTP/1.1", line
    headers: dict[str, str] = {}
    while (line := reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    reply = Reply(int(status), reason, headers)
    if head_only or reply.status in (204, 304) or reply.status < 200:
        return reply
    if "content-length" in headers:
        reply.body = reader.read(int(headers["content-length"]))
    elif headers.get("transfer-encoding") == "chunked":
        reply.body = _read_chunked(reader)
    else:
        reply.body = reader.read()
    return reply


def _read_chunked(reader) -> bytes:
    parts = []
    while True:
        size = int(reader.readline().split(b";")[0], 16)
        if size == 0:
            while reader.readline() not in (b"\r\n", b""):
                pass
            return b"".join(parts)
        parts.append(reader.read(size))
        assert reader.read(2) == b"\r\n"


def exchange(server, data: bytes, timeout: float = 10.0) -> tuple[bytes, bool]:
    """Send raw bytes, read until the server closes; (everything read, closed by server)."""
    with server.connect(timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
            closed = True
        except TimeoutError:
            closed = False
        except ConnectionResetError:
            closed = True
    return b"".join(chunks), closed


def status_of(raw: bytes) -> int:
    first = raw.split(b"\r\n", 1)[0].split(b" ")
    return int(first[1]) if len(first) > 1 and first[1].isdigit() else 0


def get(server, path: str, headers: str = "", method: str = "GET") -> Reply:
    """One request on its own connection (Connection: close), read with read_reply."""
    with server.connect() as sock:
        sock.sendall(
            f"{method} {path} HTTP/1.1\r\nHost: test\r\n{headers}Connection: close\r\n\r\n".encode()
        )
        return read_reply(sock.makefile("rb"), head_only=method == "HEAD")
