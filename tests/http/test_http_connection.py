"""HTTPProtocol against a recorded sink and a hand-moved clock: ordering, backpressure,
100-continue, timeouts, draining -- every decision the connection makes, with no loop, socket
or model."""

from __future__ import annotations

import pytest
from recorded import ManualScheduler

from server.net.executor import INLINE
from server.protocols.http.config import HTTPConfig
from server.protocols.http.connection import CONTINUE, Application, HTTPProtocol
from server.protocols.http.errors import NotFound
from server.protocols.http.response import Response, error_response


class Sink:
    """The transport as the protocol sees it, recording what is written."""

    secure = False  # clear text: requests are http

    def __init__(self, hold=False):
        self.peer = ("192.0.2.9", 1234)
        self.out = bytearray()
        self.hold = hold  # True: everything stays "pending" until release()
        self.waiters = []
        self.reading, self.closing, self.aborted = True, False, False

    def write(self, data):
        self.out += data

    def write_through(self, data):
        self.out += data

    def send_file(self, file, offset, count, on_done):
        file.seek(offset)
        self.out += file.read(count)
        self._finish(on_done)

    def send_producer(self, iterator, on_done):
        for chunk in iterator:
            self.out += chunk
        self._finish(on_done)

    def _finish(self, on_done):
        if self.hold:
            self.waiters.append(on_done)
        else:
            on_done(None)

    def when_sent(self, on_done):
        self._finish(on_done)

    def pending(self):
        return self.hold

    def release(self):
        self.hold = False
        waiters, self.waiters = self.waiters, []
        for on_done in waiters:
            on_done(None)

    def pause_reading(self):
        self.reading = False

    def resume_reading(self):
        self.reading = True

    def close(self):
        self.closing = True

    def abort(self):
        self.closing = self.aborted = True

    def take(self) -> bytes:
        data, self.out = bytes(self.out), bytearray()
        return data


class App(Application):
    def __init__(self):
        self.seen, self.finished_with, self.drained = [], [], False

    def respond(self, request):
        self.seen.append(request.target)
        if request.target == "/missing":
            return error_response(NotFound("no"))
        if request.target == "/stream":
            return Response(iter([b"a", b"bc"]))
        return Response(f"{request.method} {request.target} {request.body!r}")

    def finished(self, request, response, sent, now):
        self.finished_with.append((request.target if request else None, response.code, sent))

    def draining(self):
        self.drained = True


def connect(hold=False, executor=INLINE, **config):
    app, transport = App(), Sink(hold)
    protocol = HTTPProtocol(app, HTTPConfig(**config), ManualScheduler(executor))
    protocol.connection_made(transport)
    return protocol, transport, app


def statuses(raw: bytes) -> list[int]:
    return [int(part[:3]) for part in raw.split(b"HTTP/1.1 ")[1:]]


def test_pipelined_requests_are_answered_in_order():
    protocol, transport, app = connect()
    protocol.data_received(
        b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /missing HTTP/1.1\r\nHost: h\r\n\r\n"
        b"GET /stream HTTP/1.1\r\nHost: h\r\n\r\nPOST /3 HTTP/1.1\r\nHost: h\r\n"
        b"Content-Length: 2\r\n\r\nhi"
    )
    raw = transport.take()
    assert statuses(raw) == [200, 404, 200, 200]
    assert raw.index(b"/1") < raw.index(b"404") < raw.index(b"1\r\na\r\n") < raw.index(b"/3")
    assert raw.endswith(b"POST /3 b'hi'")
    assert app.finished_with == [("/1", 200, 10), ("/missing", 404, 18), ("/stream", 200, 3),
                                 ("/3", 200, 13)]  # fmt: skip
    assert not transport.closing


def test_a_pending_answer_holds_back_the_next_request():
    protocol, transport, app = connect(hold=True)
    protocol.data_received(b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n")
    assert app.seen == ["/1"] and not transport.reading
    protocol.data_received(b"GET /3 HTTP/1.1\r\nHost: h\r\n\r\n")  # buffered, not served
    assert app.seen == ["/1"]
    transport.release()
    assert app.seen == ["/1", "/2", "/3"] and transport.reading


def test_expect_100_continue_is_sent_once_before_the_body():
    protocol, transport, _ = connect()
    protocol.data_received(
        b"POST /u HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"
    )
    assert transport.take() == CONTINUE
    protocol.data_received(b"ab")
    assert transport.take() == b""
    protocol.data_received(b"cd")
    assert transport.take().endswith(b"POST /u b'abcd'")


def test_no_continue_when_the_body_is_already_there():
    protocol, transport, _ = connect()
    protocol.data_received(
        b"POST /u HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok"
    )
    assert not transport.take().startswith(b"HTTP/1.1 100")


def test_malformed_request_is_answered_then_closed():
    protocol, transport, app = connect()
    protocol.data_received(
        b"GET / HTTP/1.1\r\nHost: h\r\nHost: h\r\n\r\nGET /next HTTP/1.1\r\n\r\n"
    )
    raw = transport.take()
    assert statuses(raw) == [400] and b"Connection: close" in raw and transport.closing
    assert app.seen == [] and app.finished_with == [(None, 400, len(raw.split(b"\r\n\r\n")[1]))]


def test_head_timeout_answers_408():
    protocol, transport, _ = connect(header_timeout=3)
    clock = protocol.scheduler
    protocol.data_received(b"GET / HTTP/1.1\r\nHo")
    clock.advance(2)
    protocol.data_received(b"st: h\r\n")  # progress does not extend the deadline
    assert len(clock.pending("_head_expired")) == 1
    clock.advance(0.9)
    assert transport.take() == b""
    clock.advance(0.1)
    assert statuses(transport.take()) == [408] and transport.closing


def test_head_timer_stops_when_the_head_completes():
    protocol, transport, _ = connect()
    protocol.data_received(b"GET / HTTP/1.1\r\n")
    [timer] = protocol.scheduler.pending("_head_expired")
    protocol.data_received(b"Host: h\r\n\r\n")
    assert timer.cancelled
    timer.callback(*timer.args)  # a late timer is harmless
    assert statuses(transport.take()) == [200] and not transport.closing


def test_keep_alive_timer_closes_only_idle_connections():
    protocol, transport, _ = connect(keepalive_timeout=5)
    clock = protocol.scheduler
    clock.advance(3)
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
    assert statuses(transport.take()) == [200]
    clock.advance(2)  # 5 s since connecting, 2 s since the last answer: not idle long enough
    assert not transport.closing
    [again] = clock.pending("_check_keepalive")
    assert again.when == pytest.approx(8)
    clock.advance(3)
    assert transport.closing and transport.take() == b""  # closed silently


def test_keep_alive_timer_leaves_busy_connections_alone():
    protocol, transport, _ = connect(keepalive_timeout=0.001)
    protocol.data_received(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc")
    protocol.scheduler.advance(0.001)
    assert not transport.closing and protocol.scheduler.pending("_check_keepalive")


def test_idle_timeout_mid_body_is_408_and_between_requests_a_close():
    protocol, transport, _ = connect()
    protocol.data_received(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc")
    protocol.idle_timeout()
    assert statuses(transport.take()) == [408] and transport.closing
    protocol, transport, _ = connect()
    protocol.idle_timeout()
    assert transport.aborted and transport.take() == b""


def test_drain_closes_idle_and_finishes_busy_connections():
    protocol, transport, app = connect()
    protocol.data_received(b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\n")
    protocol.drain_requested()
    assert transport.closing and app.drained
    protocol, transport, _ = connect(hold=True)
    protocol.data_received(b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n")
    protocol.drain_requested()
    assert not transport.closing
    transport.release()
    assert transport.closing and statuses(transport.take()) == [200]


def test_drain_answers_the_first_request_of_a_just_accepted_connection():
    protocol, transport, _ = connect()
    protocol.drain_requested()
    assert not transport.closing  # its request is on the way
    protocol.data_received(b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\n")
    raw = transport.take()
    assert statuses(raw) == [200] and b"Connection: close" in raw and transport.closing


@pytest.mark.parametrize(
    ("request_bytes", "keeps"),
    [
        (b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", True),
        (b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", False),
        (b"GET / HTTP/1.0\r\n\r\n", False),
        (b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", True),
    ],
)
def test_persistence(request_bytes, keeps):
    protocol, transport, _ = connect()
    protocol.data_received(request_bytes)
    assert transport.closing is not keeps
    assert (b"Connection: keep-alive" in transport.take()) is keeps


def test_half_close_answers_buffered_requests_first():
    protocol, transport, app = connect(hold=True)
    protocol.data_received(b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n")
    assert protocol.eof_received() is True  # keep writing: /2 is still to be answered
    transport.release()
    assert app.seen == ["/1", "/2"] and transport.closing


def test_head_requests_get_no_body():
    protocol, transport, _ = connect()
    protocol.data_received(b"HEAD /x HTTP/1.1\r\nHost: h\r\n\r\n")
    raw = transport.take()
    assert raw.endswith(b"\r\n\r\n") and b"Content-Length: 11" in raw


def early_app(app, transport, rest, status=200, fail=False):
    """An app like a WSGI one calling write(b"now "): what was on the wire then is kept."""
    on_the_wire = []

    def handler(request, early):
        response = Response(iter(()), status)
        early(response)(b"now ")
        on_the_wire.append(transport.take())
        if fail:
            return error_response(NotFound("the app failed after writing"))
        response.iterable = iter(rest)
        return response

    app.respond = lambda request: handler
    return on_the_wire


def test_early_write_goes_out_before_the_app_returns_and_the_rest_follows():
    protocol, transport, app = connect()
    on_the_wire = early_app(app, transport, [b"later"])
    protocol.data_received(b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n")
    head, _, body = on_the_wire[0].partition(b"\r\n\r\n")
    assert b"Transfer-Encoding: chunked" in head and body == b"4\r\nnow \r\n"
    assert transport.take() == b"5\r\nlater\r\n0\r\n\r\n"
    assert app.finished_with == [("/x", 200, 9)] and not transport.closing


def test_early_write_to_a_head_request_sends_only_the_head():
    protocol, transport, app = connect()
    on_the_wire = early_app(app, transport, [b"later"])
    protocol.data_received(b"HEAD /x HTTP/1.1\r\nHost: h\r\n\r\n")
    assert on_the_wire[0].endswith(b"\r\n\r\n") and transport.take() == b""
    assert app.finished_with == [("/x", 200, 0)]


def test_an_app_failing_after_an_early_write_cuts_the_connection():
    protocol, transport, app = connect()
    early_app(app, transport, [], fail=True)
    protocol.data_received(b"GET /x HTTP/1.1\r\nHost: h\r\n\r\nGET /y HTTP/1.1\r\n\r\n")
    assert transport.aborted and transport.take() == b""  # no second head, no /y
    assert app.finished_with == [("/x", 200, 4)]


def test_a_streamed_body_is_held_to_its_declared_length():
    protocol, transport, app = connect()
    app.respond = lambda request: Response(
        iter([b"hello", b" world"]), headers={"Content-Length": "7"}
    )
    protocol.data_received(b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n")
    assert transport.take().endswith(b"Content-Length: 7\r\nConnection: keep-alive\r\n\r\nhello w")


@pytest.mark.parametrize(
    ("request_line", "ends", "closed"),
    [
        (b"GET /x HTTP/1.1", b"Connection: keep-alive\r\n\r\n500 Internal", False),
        (b"HEAD /x HTTP/1.1", b"Connection: keep-alive\r\n\r\n", False),
        (b"GET /x HTTP/1.0", b"Connection: close\r\n\r\n500 Internal", True),
    ],
)
def test_an_invalid_head_is_a_500_framed_for_the_same_request(request_line, ends, closed):
    protocol, transport, app = connect()
    app.respond = lambda request: Response(b"x", headers=[("X-A", "a\r\nb")])
    protocol.data_received(request_line + b"\r\nHost: h\r\n\r\n")
    raw = transport.take()
    assert statuses(raw) == [500] and b"X-A" not in raw and transport.closing is closed
    assert raw.endswith(ends) if request_line.startswith(b"HEAD") else ends in raw


class HeldExecutor:
    """A pool that runs nothing until told: the application is 'still running'."""

    inline = False

    def __init__(self):
        self.jobs = []

    def submit(self, work, on_done):
        self.jobs.append((work, on_done))

    def finish_one(self, exc=None):
        work, on_done = self.jobs.pop(0)
        on_done(None if exc else work(), exc)


def test_application_off_the_loop_pauses_reading_until_its_answer_is_sent():
    executor = HeldExecutor()  # the loop's, before it serves
    protocol, transport, app = connect(executor=executor)
    app.respond = lambda request: lambda request, early: Response(f"answer {request.target}")
    protocol.data_received(b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n")
    assert len(executor.jobs) == 1 and not transport.reading and transport.take() == b""
    executor.finish_one()  # /1 answered; the pipelined /2 goes to the pool next
    assert transport.take().endswith(b"answer /1") and len(executor.jobs) == 1
    executor.finish_one(RuntimeError("lost"))  # a failure that escaped the router: a 500
    assert statuses(transport.take()) == [500] and transport.reading and not executor.jobs
