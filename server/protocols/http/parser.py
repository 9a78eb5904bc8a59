"""A strict, sans-IO HTTP/1.1 request parser (RFC 9112).

Bytes go in with `feed()`; complete requests (head and body) come out of `next_request()`,
which returns None while more bytes are needed and raises an `HTTPError` (status on the class)
for anything malformed. The head is parsed and framed by `head.py`; bodies are read here.

The head is read by `next_request` itself; the body's states are a table of readers named
after their state. The common case -- a whole head in one read -- costs one `find`, one slice
and `parse_head`.
"""

from __future__ import annotations

import re

from .body import BodySink
from .errors import BadRequest, HeaderFieldsTooLarge, PayloadTooLarge
from .head import CONTROL, TCHAR, HeadScan, Limits, parse_field, parse_head
from .request import UNKNOWN, Request

_TOKEN = TCHAR.encode()
_QUOTED = rb'"(?:[\t !#-\[\]-~\x80-\xff]|\\[\t -~\x80-\xff])*"'
_EXTENSION = rb"[ \t]*;[ \t]*[%s]+(?:[ \t]*=[ \t]*(?:[%s]+|%s))?" % (_TOKEN, _TOKEN, _QUOTED)
_CHUNK_LINE = re.compile(rb"([0-9A-Fa-f]{1,16})(?:%s)*" % _EXTENSION)
_MAX_CHUNK_LINE = 4096

HEAD, LENGTH, CHUNK_SIZE, CHUNK_DATA, CHUNK_END, TRAILER = range(6)

__all__ = ["Limits", "RequestParser"]
_DEFAULTS = Limits()  # frozen: one shared by every parser that is given none


class RequestParser:
    """Parses the requests of one connection, in order."""

    def __init__(self, limits: Limits = _DEFAULTS):
        self.limits = limits
        self.buf = b""
        self.pos = 0
        self.state = HEAD
        # True while part of a request (head or body) is buffered, as of the last feed() or
        # next_request(), which keep it: the connection reads it after every request, before
        # asking for the next one, and a property would cost a frame each time
        self.partial = False
        self.request: Request | None = None  # the one whose body is being read
        self.origin = UNKNOWN  # every request's (peer, remote_addr, scheme): the connection's
        self._sink: BodySink | None = None
        self._left = 0
        self._trailers = 0
        self._scan = HeadScan()
        self._readers = {
            LENGTH: self._read_length,
            CHUNK_SIZE: self._read_chunk_size,
            CHUNK_DATA: self._read_chunk_data,
            CHUNK_END: self._read_chunk_end,
            TRAILER: self._read_trailer,
        }

    def feed(self, data: bytes) -> None:
        if self.pos >= len(self.buf):
            self.buf = data
        else:
            self.buf = self.buf[self.pos :] + data
        self.pos = 0
        if data:  # an empty feed leaves `partial` as it was
            self.partial = True

    def next_request(self) -> Request | None:
        """The next complete request, or None until more bytes arrive. Raises HTTPError
        (after which the parser is done: `partial` is left as it was)."""
        buf, pos = self.buf, self.pos
        if pos >= len(buf):  # every reader needs a byte (the common keep-alive case)
            return None  # and `partial` is still what feed() or the last call left
        if self.state == HEAD:  # read here, not by a reader: a call less for every request
            # indexing the byte (one is buffered) costs less than startswith() with a start
            if buf[pos] == 13 and buf.startswith(b"\r\n", pos):
                pos = self._skip_empty_lines(pos)
            end = buf.find(b"\r\n\r\n", pos)
            if end < 0:
                if pos < len(buf):
                    self._scan.check(buf, pos, self.limits)
                self.partial = pos < len(buf)
                return None
            self.pos = end + 4
            if self._scan.scanned:  # the head came in pieces
                self._scan.reset()
            request = parse_head(buf[pos:end], self.limits, self.origin)
            if not (request.chunked or request.content_length):
                self.partial = end + 4 < len(buf)
                return request
            self._start_body(request)
        readers = self._readers
        # a reader returns False (it needs more bytes), True (it moved on) or the request
        while (step := readers[self.state]()) is True:
            pass
        self.partial = self.state != HEAD or self.pos < len(self.buf)
        return step or None

    def close(self) -> None:
        if self._sink is not None:
            self._sink.close()
            self._sink = None

    # -- the head ---------------------------------------------------------------------------
    def _skip_empty_lines(self, pos: int) -> int:
        """RFC 9112 2.2: empty lines before a request are ignored."""
        buf = self.buf
        while buf.startswith(b"\r\n", pos):
            pos += 2
        self.pos = pos
        self._scan.reset()
        return pos

    def _start_body(self, request: Request) -> None:
        self.request = request
        self._sink = BodySink(self.limits.max_body, self.limits.spool)
        if request.chunked:
            self.state = CHUNK_SIZE
            self._trailers = 0
        else:
            self.state = LENGTH
            self._left = request.content_length

    def _finish_body(self) -> Request:
        request = self.request
        request.body_file = self._sink.finish()
        request.content_length = self._sink.size
        self.request, self._sink, self.state = None, None, HEAD
        return request

    # -- bodies -----------------------------------------------------------------------------
    def _take(self) -> bool:
        """Move up to `_left` buffered bytes into the sink; True when `_left` reaches 0."""
        buf, pos = self.buf, self.pos
        available = len(buf) - pos
        if not available:
            return False
        count = min(available, self._left)
        self._sink.write(buf[pos : pos + count] if count < len(buf) else buf)
        self.pos = pos + count
        self._left -= count
        return self._left == 0

    def _read_length(self) -> bool | Request:
        return self._take() and self._finish_body()

    def _read_chunk_size(self) -> bool:
        buf, pos = self.buf, self.pos
        end = buf.find(b"\r\n", pos)
        if end < 0:
            if len(buf) - pos > _MAX_CHUNK_LINE:
                raise BadRequest("chunk size line too long")
            return False
        match = _CHUNK_LINE.fullmatch(buf, pos, end)
        if not match:
            raise BadRequest("invalid chunk size or chunk extension")
        size = int(match.group(1), 16)
        self.pos = end + 2
        if size == 0:
            self.state = TRAILER
        elif self._sink.size + size > self.limits.max_body:
            raise PayloadTooLarge(f"request body is larger than {self.limits.max_body} bytes")
        else:
            self._left, self.state = size, CHUNK_DATA
        return True

    def _read_chunk_data(self) -> bool:
        if not self._take():
            return False
        self.state = CHUNK_END
        return True

    def _read_chunk_end(self) -> bool:
        if len(self.buf) - self.pos < 2:
            if self.buf[self.pos :] not in (b"", b"\r"):
                raise BadRequest("chunk data is not followed by CRLF")
            return False
        if not self.buf.startswith(b"\r\n", self.pos):
            raise BadRequest("chunk data is not followed by CRLF")
        self.pos += 2
        self.state = CHUNK_SIZE
        return True

    def _read_trailer(self) -> bool | Request:
        buf, pos = self.buf, self.pos
        end = buf.find(b"\r\n", pos)
        if end < 0:
            if len(buf) - pos > self.limits.max_field:
                raise HeaderFieldsTooLarge("trailer field too long")
            return False
        self.pos = end + 2
        if end == pos:
            return self._finish_body()
        self._trailers += 1
        if self._trailers > self.limits.max_fields:
            raise HeaderFieldsTooLarge(f"more than {self.limits.max_fields} trailer fields")
        line = buf[pos:end].decode("latin-1")
        if CONTROL.search(line):
            raise BadRequest("control character or bare CR/LF in a trailer field")
        parse_field(line, self.limits)  # validated, then dropped: trailers are not merged
        return True
