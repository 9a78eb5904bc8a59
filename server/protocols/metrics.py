"""The metrics listener's protocol (`--metrics-listen`): Prometheus text over minimal HTTP/1.1.

Every service can serve it, echo and FTP included, which have no HTTP port of their own. One
request per connection: the head (at most MAX_HEAD bytes), then the answer, then close. GET or
HEAD of `/metrics` answers the registry's text (summed over every process: the table is shared
memory); any other request gets a status and one line saying why.
"""

from __future__ import annotations

from ..metrics import CONTENT_TYPE, METRICS
from ..net.protocol import Protocol

PATH = "/metrics"
MAX_HEAD = 8192

_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    431: "Request Header Fields Too Large",
}


class MetricsProtocol(Protocol):
    def __init__(self) -> None:
        self._head = bytearray()
        self._answered = False

    def data_received(self, data: bytes) -> None:
        if self._answered:
            return  # one request per connection: whatever follows it is ignored
        self._head += data
        end = self._head.find(b"\r\n\r\n")
        if end >= 0:
            self._respond(bytes(self._head[:end]).split(b"\r\n", 1)[0])
        elif len(self._head) > MAX_HEAD:
            self._answer(431, f"the request head is over {MAX_HEAD} bytes\n".encode())

    def _respond(self, request_line: bytes) -> None:
        parts = request_line.decode("latin-1").split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            self._answer(400, b"not an HTTP/1.x request line\n")
        elif parts[1].split("?", 1)[0] != PATH:
            self._answer(404, f"metrics are at {PATH}\n".encode())
        elif parts[0] not in ("GET", "HEAD"):
            self._answer(405, b"GET or HEAD only\n", ("Allow: GET, HEAD",))
        else:
            self._answer(200, METRICS.render().encode(), head_only=parts[0] == "HEAD")

    def _answer(self, code: int, body: bytes, extra=(), head_only: bool = False) -> None:
        self._answered = True
        content_type = CONTENT_TYPE if code == 200 else "text/plain; charset=utf-8"
        head = [
            f"HTTP/1.1 {code} {_REASONS[code]}",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(body)}",
            "Cache-Control: no-store",
            "Connection: close",
            *extra,
        ]
        self.transport.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        if not head_only:
            self.transport.write(body)
        self.transport.close()
