"""WSGI (PEP 3333): run an application callable under any model.

The request body has been read completely before the app is called (apps block, and under
the multiplexing models they block the loop), so `wsgi.input` is an ordinary file -- memory or
a spooled temporary file -- with read(n), readline, readlines and iteration.

The answer takes the cheapest road that is correct:
- a list or tuple of bytes: joined and written with the head in one write;
- `wsgi.file_wrapper` over a regular file: os.sendfile;
- any other iterable: streamed as the socket drains (chunked unless the app set a length).
Headers are not sent before the first non-empty body chunk, so `start_response(..., exc_info)`
can still replace them until then. `close()` of the iterable is called in every case: after
the last byte, after an error, and when the client goes away.

`write()` (the legacy imperative interface) sends: its first call puts the head on the wire,
and every call returns only once its data is in the socket (the app blocks while the client
reads, as PEP 3333 requires: data may not wait for the app to return). What the app then
returns continues the same body.
"""

from __future__ import annotations

import itertools
import os
import stat
import sys
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote_to_bytes

from .config import SERVER
from .errors import InternalError
from .request import NO_BODY, Request
from .response import EarlySink, Response, build_response

_ENV_NAMES: dict[str, str | None] = {
    "content-type": "CONTENT_TYPE",
    "content-length": None,  # set from the body actually read (chunked bodies too)
}


class FileWrapper:
    """`wsgi.file_wrapper`: iterable over a file; regular files are sent with sendfile."""

    def __init__(self, filelike: Any, blksize: int = 65536):
        self.filelike = filelike
        self.blksize = blksize
        if hasattr(filelike, "close"):
            self.close = filelike.close

    def __iter__(self):
        return self

    def __next__(self) -> bytes:
        data = self.filelike.read(self.blksize)
        if data:
            return data
        raise StopIteration


class _Answer(Response):
    """The response to one WSGI request, whose bound `start_response` the app calls: the call
    sets the status and headers, `respond` the body once the app returns. One object for
    both (not a start_response state beside the response): an allocation and a call fewer
    for every request. `send` is set once write() has sent the head."""

    __slots__ = ("send", "sent", "sink")

    sent: bool  # true once body data exists: the head can no longer change
    send: Callable[[bytes], None] | None
    sink: EarlySink

    def start_response(self, status: str, headers: list, exc_info=None) -> Callable[[bytes], None]:
        if exc_info is not None:
            try:
                if self.sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None  # no reference cycle through the traceback
        elif self.status is not None:
            raise AssertionError("start_response called a second time without exc_info")
        # a status in _CODES passed this check before (apps send the same few); one that
        # cannot be a key (a list) is refused here by the look-up's TypeError
        if status not in _CODES and not _is_status(status):
            raise AssertionError(f"WSGI status must be 'NNN reason', got {status!r}")
        if not isinstance(headers, list):
            raise AssertionError("WSGI headers must be a list of (name, value) tuples")
        self.status, self.headers = status, headers
        return self.write

    def write(self, data: bytes) -> None:
        if self.status is None:
            raise AssertionError("write() before start_response()")
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError(f"write() takes bytes, not {type(data).__name__}")
        if not data:
            return
        self.sent = True
        if self.send is None:
            self.send = self.sink(_settle(self, iterable=()))
        self.send(bytes(data))


class WSGIApp:
    """Adapts a WSGI callable to `respond(request, early) -> Response`; `write()` sends
    through the connection's `early` sink."""

    def __init__(
        self,
        app: Callable,
        *,
        server_name: str = "localhost",
        server_port: str = "80",
        multithread: bool = False,
        multiprocess: bool = False,
    ):
        self.app = app
        self.base = {
            "wsgi.version": (1, 0),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": multithread,
            "wsgi.multiprocess": multiprocess,
            "wsgi.run_once": False,
            "wsgi.file_wrapper": FileWrapper,
            "wsgi.input_terminated": True,
            "SERVER_NAME": server_name,
            "SERVER_PORT": server_port,
            "SERVER_SOFTWARE": SERVER,
            "SCRIPT_NAME": "",
            "wsgi.input": NO_BODY,
            # set for every request (REMOTE_PORT but on Unix sockets): in the template, the
            # copy already holds their slots and each request only replaces the values
            "REQUEST_METHOD": "",
            "PATH_INFO": "",
            "QUERY_STRING": "",
            "SERVER_PROTOCOL": "",
            "REMOTE_ADDR": "",
            "REMOTE_PORT": "",
            "wsgi.url_scheme": "",
        }

    def respond(self, request: Request, early: EarlySink) -> Response:
        # status (None: start_response not called yet), headers and body come from the app
        answer = build_response(0, None, _NO_HEADERS, None, None, "", _Answer)
        answer.sent, answer.send, answer.sink = False, None, early
        result = self.app(self.environ(request), answer.start_response)
        try:
            if type(result) in (list, tuple) and answer.send is None:  # the common answer
                body = result[0] if len(result) == 1 else b"".join(result)
                code = _CODES.get(answer.status)  # None: not seen yet, or no status at all
                if code is not None and type(body) is bytes:
                    answer.code, answer.body, answer.length = code, body, len(body)
                    return answer
                return _settle(answer, body=body)
            return self._answer(answer, result)
        except BaseException:
            _close(result)
            raise

    def environ(self, request: Request) -> dict[str, Any]:
        env = self.base.copy()  # SCRIPT_NAME "" and wsgi.input NO_BODY unless set here
        raw = request.raw_path
        path = unquote_to_bytes(raw).decode("latin-1") if "%" in raw else raw
        script = request.script_name
        if script:
            env["SCRIPT_NAME"] = script
            path = path[len(script) :]
        env["REQUEST_METHOD"] = request.method
        env["PATH_INFO"] = path
        env["QUERY_STRING"] = request.query_string
        env["SERVER_PROTOCOL"] = request.version
        env["REMOTE_ADDR"] = request.remote_addr
        peer = request.peer
        if peer:  # else "" from the template (a Unix socket)
            env["REMOTE_PORT"] = _PORTS.get(peer[1]) or _port_text(peer[1])
        env["wsgi.url_scheme"] = request.scheme
        body = request.body_file
        if body is not None:
            env["wsgi.input"] = body
        if request.content_length or body is not None:
            env["CONTENT_LENGTH"] = str(request.content_length)
        for name, value in request.headers.items():
            try:
                key = _ENV_NAMES[name]
            except KeyError:
                key = _environ_key(name)
            if key is not None:
                env[key] = value
        return env

    def _answer(self, answer: _Answer, result: Iterable[bytes]) -> Response:
        """The answer but a whole body in a list (`respond` makes that one)."""
        if answer.send is not None:  # write() sent the head: the result is the body's rest
            answer.iterable = result
            answer.on_close = getattr(result, "close", None)
            return answer
        if isinstance(result, FileWrapper) and _send_file(answer, result):
            return answer
        iterator = iter(result)
        first = _first_chunk(iterator)
        if first is None:  # an empty body
            _settle(answer, body=b"")
            _close(result)
            return answer
        _settle(answer, iterable=itertools.chain((first,), iterator))
        answer.on_close = getattr(result, "close", None)
        return answer


_NO_HEADERS: list = []  # until start_response gives the app's (never changed in place)

#: Status lines apps have sent, to their code (an app sends the same few again and again).
_CODES: dict[str, int] = {}


#: Client ports as text: each connection's requests name the same one.
_PORTS: dict[int, str] = {}


def _is_status(status: Any) -> bool:
    """The shape of PEP 3333's status, "NNN reason" (its code is read by _settle)."""
    return isinstance(status, str) and len(status) >= 4 and status[3] == " "


def _port_text(port: int) -> str:
    if len(_PORTS) >= 4096:
        _PORTS.clear()  # ports cycle through the ephemeral range: keep the recent ones
    _PORTS[port] = text = str(port)
    return text


def _environ_key(name: str) -> str | None:
    """HTTP_X_FOO for x-foo; None for names with "_" (they would alias a dashed name)."""
    key = None if "_" in name else "HTTP_" + name.upper().replace("-", "_")
    if len(_ENV_NAMES) < 1024:
        _ENV_NAMES[name] = key
    return key


def _first_chunk(iterator) -> bytes | None:
    """The first non-empty chunk (the head is not final until it exists)."""
    for chunk in iterator:
        if not isinstance(chunk, (bytes, bytearray)):
            raise TypeError(f"a WSGI app yielded {type(chunk).__name__}, not bytes")
        if chunk:
            return bytes(chunk)
    return None


def _settle(answer: _Answer, body=None, iterable=None) -> _Answer:
    """The answer's code (from the status the app gave) and its body or iterable."""
    status = answer.status
    if status is None:
        raise InternalError("the WSGI app returned without calling start_response")
    code = _CODES.get(status)
    if code is None:
        try:
            code = int(status[:3])
        except ValueError:
            raise InternalError(f"invalid WSGI status {status!r}") from None
        if len(_CODES) >= 1024:
            _CODES.clear()  # an app that makes up reason phrases must not grow it for ever
        _CODES[status] = code
    if body is not None and not isinstance(body, bytes):
        body = bytes(body)
    answer.code, answer.body, answer.iterable = code, body, iterable
    answer.length = len(body) if body is not None else None
    return answer


def _send_file(answer: _Answer, wrapper: FileWrapper) -> bool:
    """sendfile for a FileWrapper over a regular file; False to iterate it instead."""
    try:
        fd = wrapper.filelike.fileno()
        info = os.fstat(fd)
        offset = wrapper.filelike.tell()
    except (AttributeError, OSError, ValueError):
        return False
    if not stat.S_ISREG(info.st_mode):
        return False
    count = max(0, info.st_size - offset)
    for name, value in answer.headers:
        if name.lower() == "content-length" and value.isdigit():
            count = min(count, int(value))
    _settle(answer)
    answer.file, answer.offset, answer.count = wrapper.filelike, offset, count
    answer.length = count
    answer.on_close = getattr(wrapper, "close", None)
    return True


def _close(result: Any) -> None:
    close = getattr(result, "close", None)
    if close is not None:
        close()
