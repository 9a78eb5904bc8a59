"""One HTTP/1.1 connection: parse requests, hand each to the application, write answers.

Requests are served one at a time, in order. A pipelined request waits in the parser's
buffer while the answer before it is still being sent (reading pauses too), so a client that
pipelines without reading cannot make us queue unbounded responses. A small answer is one
`write` of head and body together; files go out with sendfile, iterables as the socket
drains.

Application code (a `Handler` the router hands back) runs through the scheduler's executor:
inline, or on the hybrid model's pool; meanwhile the connection reads nothing more.
Timers and the clock are the `Scheduler`'s the service gives (the connection's loop), never
the transport's.

Timeouts, all lazy (no timer per request on the common path):
- keep-alive: an idle connection between requests is closed after `keepalive_timeout`;
- head: a request head that has started must be complete within `header_timeout` (slowloris);
- progress: the transport drops a peer that moves nothing for `timeout` (set by the service).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple

from ...net.protocol import NO_DELAY, Cancellable, Protocol, Scheduler
from .config import HTTPConfig
from .errors import HTTPError, InternalError, RequestTimeout
from .parser import RequestParser
from .request import Request
from .response import EarlySink, Response, encode_head, error_response

log = logging.getLogger(__name__)

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


#: Application code that makes the answer: `handler(request, early)`, run where the loop's
#: executor runs blocking work (inline, or on the hybrid model's pool while the loop serves
#: everyone else); a response that must go out before it returns (WSGI write()) goes through
#: `early`. Handed back as it is (no partial made for every request: it is called directly).
Handler = Callable[[Request, EarlySink], Response]


class Application:
    """What a connection serves requests with (the Router, or a test double)."""

    def respond(self, request: Request) -> Response | Handler:
        """The answer to `request`, or the application code that makes it."""
        raise NotImplementedError

    def failed(self, request: Request, exc: BaseException) -> Response:
        """The answer when a `Handler` raised `exc` (called on the loop)."""
        log.error("%s %s failed", request.method, request.target, exc_info=exc)
        return error_response(InternalError("the handler failed; see the server log"))

    def finished(self, request: Request | None, response: Response, sent: int, now: float) -> None:
        """The response is sent (or the connection died); `sent` counts body bytes, `now` is
        the scheduler's clock (monotonic) read once for this and the keep-alive idle start."""

    def draining(self) -> None:
        """The server is shutting down gracefully."""


class HTTPProtocol(Protocol):
    tcp_options = (NO_DELAY,)  # Nagle plus delayed ACK would stall a response in two writes

    def __init__(self, app: Application, config: HTTPConfig, scheduler: Scheduler):
        self.app = app
        self.config = config
        self.scheduler = scheduler
        self._clock = scheduler.time  # looked up once: read on every request
        # looked up once too (a class attribute: a slow look-up); a loop's executor is set
        # before it serves (the hybrid model's pool)
        self._inline = scheduler.executor.inline
        self.parser = RequestParser(config.limits)
        self._waiting = False  # an answer is still being sent; the next request waits
        self._draining = False
        self._eof = False  # the client has sent everything it will send
        self._continued = False  # 100 Continue sent for the body being read
        self._served = 0
        self._idle_since = scheduler.time()
        self._keepalive: Cancellable | None = None
        self._head_timer: Cancellable | None = None
        self._serving: Request | None = None  # the request the app is answering
        self._early: _Early | None = None  # set while a WSGI app streams through write()
        # bound once, not for every request (the transport holds us in a cycle already)
        self._early_sink = self._start_early

    # -- transport callbacks -----------------------------------------------------------------
    def connection_made(self, transport) -> None:
        self.transport = transport
        peer = transport.peer
        client = peer if isinstance(peer, tuple) else None  # None on Unix sockets
        # TLS is up before we connect; X-Forwarded-* from a trusted proxy may still override
        scheme = "https" if transport.secure else "http"
        # given to every request as it is parsed: not stored again for each one
        self.parser.origin = (client, client[0] if client else "", scheme)
        self._keepalive = self.scheduler.call_later(
            self.config.keepalive_timeout, self._check_keepalive
        )

    def eof_received(self) -> bool:
        """The client half-closed: answer the requests it already sent, then close."""
        self._eof = True
        return self._waiting  # when not waiting, every complete request is answered already

    def idle_timeout(self) -> None:
        if not self._waiting and self.parser.partial:
            self._refuse(RequestTimeout("the request did not arrive in time"))
        else:
            self.transport.abort()

    def drain_requested(self) -> None:
        """Finish what is in flight, then close. A connection that has not sent its first
        request yet is just accepted, its request on the way: it gets that answer (with
        Connection: close) or the keep-alive timeout, never a close instead of an answer."""
        self._draining = True
        self.app.draining()
        if not self._busy() and self._served:
            self.transport.close()

    def connection_lost(self, exc: BaseException | None) -> None:
        self.parser.close()
        for timer in (self._keepalive, self._head_timer):
            if timer is not None:
                timer.cancel()

    # -- requests -----------------------------------------------------------------------------
    def _busy(self) -> bool:
        return self._waiting or self.parser.partial

    def data_received(self, data: bytes) -> None:
        """Serve the buffered requests in order, unless an answer is still being sent; `_sent`
        calls it with no data once that answer is out. The loop is here, not in a method of
        its own: a frame fewer for every read."""
        transport, parser = self.transport, self.parser
        if data:
            parser.feed(data)
        if self._waiting:
            return
        while not transport.closing:
            try:  # with nothing buffered there is no request to look for
                request = parser.next_request() if parser.partial else None
            except HTTPError as error:
                self._refuse(error)
                return
            if request is None:
                if self._eof:
                    transport.close()
                elif parser.partial:
                    self._incomplete()
                return
            if not self._serve(request):
                return  # the application runs off the loop; _answered continues
            if transport.pending():
                self._waiting = True
                transport.pause_reading()
                transport.when_sent(self._sent)
                return

    def _sent(self, exc: BaseException | None) -> None:
        self._waiting = False
        self._idle_since = self._clock()
        if self._draining:
            self.transport.close()
        elif exc is None and not self.transport.closing:
            self.transport.resume_reading()
            self.data_received(b"")

    def _incomplete(self) -> None:
        """Part of a request is buffered: start the head clock, or say 100 Continue."""
        parser = self.parser
        if parser.request is not None:
            self._stop_head_timer()
            if parser.request.expect_continue and not self._continued:
                self._continued = True
                self.transport.write(CONTINUE)
        elif parser.partial and self._head_timer is None:
            self._head_timer = self.scheduler.call_later(
                self.config.header_timeout, self._head_expired, self._served
            )

    def _head_expired(self, served: int) -> None:
        self._head_timer = None
        if served == self._served and self.parser.request is None and self.parser.partial:
            self._refuse(RequestTimeout("the request head did not arrive in time"))

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _check_keepalive(self) -> None:
        timeout = self.config.keepalive_timeout
        idle = self._clock() - self._idle_since
        if self.transport.closing:
            return
        if not self._busy() and idle >= timeout:
            self.transport.close()
            return
        delay = timeout - idle if not self._busy() and idle > 0 else timeout
        self._keepalive = self.scheduler.call_later(delay, self._check_keepalive)

    def _serve(self, request: Request) -> bool:
        """Answer `request`; False while the application runs off the loop (answer later)."""
        if self._head_timer is not None:
            self._stop_head_timer()
        self._served += 1
        self._continued = False
        # its latency starts when its bytes were read: the loop's clock of this turn
        request.started = self.scheduler.now
        self._serving = request
        answer = self.app.respond(request)
        if not isinstance(answer, Response):  # a Handler
            if not self._inline:
                self._waiting = True  # one request at a time: read nothing until it is answered
                self.transport.pause_reading()
                work = functools.partial(answer, request, self._early_sink)
                self.scheduler.executor.submit(work, functools.partial(self._answered, request))
                return False
            try:
                answer = answer(request, self._early_sink)
            except (Exception, SystemExit) as exc:  # a handler calling sys.exit() must not stop us
                answer = self.app.failed(request, exc)
        if self._early is None:  # nothing went out early (the common case: _answer's first road)
            self._serving = None
            self._send(request, answer)
        else:
            self._answer(request, answer)
        return True

    def _answered(self, request: Request, response: Response, exc: BaseException | None) -> None:
        """Back on the loop with what the application made (the client may be gone)."""
        if exc is not None:
            response = self.app.failed(request, exc)
        self._answer(request, response)
        self.transport.when_sent(self._sent)

    def _answer(self, request: Request, response: Response) -> None:
        self._serving = None  # an idle keep-alive connection holds no request
        early, self._early = self._early, None
        if early is None:
            self._send(request, response)
        elif response is early.response:  # the rest of the body, after what write() sent
            self._produce(request, response, early.framer, response.iterable or ())
            if not early.keep:
                self.transport.close()
        else:  # the app failed after its head went out: no honest answer can follow
            response.finish()
            self.transport.abort()
            self._done(request, early.response, early.framer.sent)

    # -- answers ------------------------------------------------------------------------------
    def _refuse(self, error: HTTPError) -> None:
        """A malformed request: answer it, then close (the rest of the stream is not trusted)."""
        self._stop_head_timer()
        response = error_response(error)
        head, _, _, _ = encode_head(response, self.config.fixed, False)
        self.transport.write(head + response.body)
        self.transport.close()
        self.app.finished(None, response, len(response.body), self._clock())

    def _send(self, request: Request, response: Response) -> None:
        fixed, keep = self.config.fixed, request.keep_alive and not self._draining
        try:
            head, keep, chunked, bodyless = encode_head(
                response, fixed, keep, request.method, request.version
            )
        except HTTPError as error:  # (`keep` is still the request's)
            log.error("%s %s: %s", request.method, request.raw_path, error.message)
            response.finish()
            response = error_response(InternalError("the response was invalid"))
            head, keep, chunked, bodyless = encode_head(
                response, fixed, keep, request.method, request.version
            )
        transport = self.transport
        if bodyless:
            transport.write(head)
            self._done(request, response, 0)
        elif response.body is not None:
            transport.write(head + response.body)
            self._done(request, response, len(response.body))
        elif response.file is not None:
            transport.write(head)
            transport.send_file(
                response.file, response.offset, response.count,
                lambda exc: self._done(request, response, response.count if exc is None else 0),
            )  # fmt: skip
        else:
            self._stream(request, response, head, chunked)
        if not keep:
            transport.close()

    def _stream(self, request: Request, response: Response, head: bytes, chunked: bool) -> None:
        self.transport.write(head)
        self._produce(request, response, _Framer(chunked, response.length), response.iterable)

    def _produce(self, request, response, framer: _Framer, chunks: Iterable[bytes]) -> None:
        """Send the body as the socket drains, then finish the response."""
        self.transport.send_producer(
            _framed(chunks, framer), lambda exc: self._done(request, response, framer.sent)
        )

    def _start_early(self, response: Response) -> Callable[[bytes], None]:
        """The EarlySink, for a WSGI app's write(): send the head now; the returned callable
        sends a chunk before it returns (PEP 3333: write() may not hold data back while the
        app runs on). The body the app returns afterwards continues the same framing."""
        request = self._serving
        keep = request.keep_alive and not self._draining
        head, keep, chunked, bodyless = encode_head(
            response, self.config.fixed, keep, request.method, request.version
        )
        framer = _Framer(chunked, 0 if bodyless else response.length)
        self._early = _Early(response, framer, keep)
        self._send_through(head)
        return lambda chunk: self._send_through(framer.frame(chunk))

    def _send_through(self, data: bytes) -> None:
        """Put `data` in the socket before returning, from the loop or from a pool thread."""
        transport = self.transport
        if self._inline:
            transport.write_through(data)
            return

        def start(done: Callable[[BaseException | None], None]) -> None:
            transport.write(data)
            transport.when_sent(done)

        self.scheduler.executor.wait_on_loop(start)

    def _done(self, request: Request, response: Response, sent: int) -> None:
        if response.on_close is not None:  # most responses hold nothing to release
            try:
                response.finish()
            except Exception:
                log.exception(
                    "closing the response to %s %s failed", request.method, request.target
                )
        if request.body_file is not None:
            request.close()
        # one clock reading: the request's end (its latency) and the connection's idle start
        self._idle_since = now = self._clock()
        self.app.finished(request, response, sent, now)


class _Framer:
    """Puts body chunks on the wire: chunked, or held to a declared length (`left`): at most
    that many bytes, and fewer is an error that cuts the connection (never a hang)."""

    __slots__ = ("chunked", "left", "sent")

    def __init__(self, chunked: bool, length: int | None):
        self.chunked = chunked
        self.left = None if chunked else length
        self.sent = 0  # body bytes, for the access log

    @property
    def full(self) -> bool:
        return self.left == 0

    def frame(self, chunk: bytes) -> bytes:
        if self.left is not None:
            chunk = chunk[: self.left]
            self.left -= len(chunk)
        if not chunk:  # an empty chunk would end a chunked body
            return b""
        self.sent += len(chunk)
        return b"%x\r\n%s\r\n" % (len(chunk), chunk) if self.chunked else chunk

    def end(self) -> bytes:
        if self.left:
            raise InternalError(f"the body ended {self.left} bytes short of its Content-Length")
        return b"0\r\n\r\n" if self.chunked else b""


class _Early(NamedTuple):
    """A response whose head went out while the app was still running (WSGI write())."""

    response: Response
    framer: _Framer
    keep: bool


def _framed(chunks: Iterable[bytes], framer: _Framer) -> Iterator[bytes]:
    if not framer.full:
        for chunk in chunks:
            if chunk:
                yield framer.frame(chunk)
            if framer.full:  # the declared length is out: pull nothing more
                break
    if end := framer.end():
        yield end
