"""The WSGI adapter without a server: environ, start_response rules, answers and close()."""

from __future__ import annotations

import io
import sys

import pytest

from server.protocols.http.errors import HTTPError
from server.protocols.http.request import Request
from server.protocols.http.wsgi import FileWrapper, WSGIApp


def make_request(target="/p%C3%A9/x?q=1", headers=None, body=None) -> Request:
    request = Request("POST", target, "HTTP/1.1", headers or {"host": "h", "x-test": "v"})
    request.peer = ("192.0.2.1", 4444)
    request.remote_addr = "192.0.2.1"
    if body is not None:
        request.body_file, request.content_length = io.BytesIO(body), len(body)
    return request


def refuse_early(response):
    raise AssertionError("this app never calls write()")


def run(app, request=None, early=refuse_early):
    adapter = WSGIApp(app, server_name="srv", server_port="81")
    return adapter.respond(request or make_request(), early)


def simple(status="200 OK", headers=None, body=(b"ok",)):
    def app(environ, start_response):
        start_response(status, headers or [("Content-Type", "text/plain")])
        return list(body)

    return app


def test_environ():
    seen = {}

    def app(environ, start_response):
        seen.update(environ)
        start_response("200 OK", [])
        return [environ["wsgi.input"].read()]

    request = make_request(
        headers={"host": "h", "content-type": "text/x", "x-a": "1", "x_b": "no"}, body=b"data"
    )
    response = run(app, request)
    assert response.body == b"data"
    assert seen["PATH_INFO"] == "/p\xc3\xa9/x"  # WSGI strings: the bytes, as latin-1
    assert seen["QUERY_STRING"] == "q=1" and seen["REQUEST_METHOD"] == "POST"
    assert seen["CONTENT_TYPE"] == "text/x" and seen["CONTENT_LENGTH"] == "4"
    assert seen["HTTP_X_A"] == "1" and seen["HTTP_HOST"] == "h"
    assert "HTTP_X_B" not in seen  # underscores would alias dashes: dropped
    assert seen["REMOTE_ADDR"] == "192.0.2.1" and seen["REMOTE_PORT"] == "4444"
    assert (seen["SERVER_NAME"], seen["SERVER_PORT"]) == ("srv", "81")
    assert seen["wsgi.version"] == (1, 0) and seen["wsgi.errors"] is sys.stderr
    assert seen["wsgi.file_wrapper"] is FileWrapper


def test_script_name_splits_the_path():
    seen = {}

    def app(environ, start_response):
        seen.update(environ)
        start_response("200 OK", [])
        return []

    request = make_request("/mod/rest")
    request.script_name = "/mod"
    run(app, request)
    assert (seen["SCRIPT_NAME"], seen["PATH_INFO"]) == ("/mod", "/rest")


def test_a_request_without_a_body_or_mount_point_after_one_with_them():
    seen = []

    def app(environ, start_response):
        seen.append(dict(environ))
        start_response("200 OK", [])
        return [environ["wsgi.input"].read()]

    adapter = WSGIApp(app)
    mounted = make_request("/mod/rest", body=b"data")
    mounted.script_name = "/mod"
    assert adapter.respond(mounted, refuse_early).body == b"data"
    plain = make_request("/mod/rest", headers={"host": "h", "content-length": "0"})
    assert adapter.respond(plain, refuse_early).body == b""
    assert (seen[0]["SCRIPT_NAME"], seen[0]["PATH_INFO"]) == ("/mod", "/rest")
    assert (seen[1]["SCRIPT_NAME"], seen[1]["PATH_INFO"]) == ("", "/mod/rest")
    assert seen[0]["CONTENT_LENGTH"] == "4" and "CONTENT_LENGTH" not in seen[1]
    assert seen[1]["wsgi.input"] is not seen[0]["wsgi.input"]


def test_remote_port_is_each_peers_own_past_the_remembered_ones():
    adapter, request = WSGIApp(simple()), make_request()
    for port in [*range(1, 4200), 4444, 1, 0]:
        request.peer = ("192.0.2.1", port)
        assert adapter.environ(request)["REMOTE_PORT"] == str(port)
    request.peer = None  # a Unix socket
    assert adapter.environ(request)["REMOTE_PORT"] == ""


@pytest.mark.parametrize(
    ("body", "expected"),
    [((b"ok",), b"ok"), ((b"a", b"b", b"c"), b"abc"), ((), b"")],
)
def test_list_bodies_are_joined(body, expected):
    response = run(simple(body=body))
    assert response.body == expected and response.code == 200


@pytest.mark.parametrize(
    ("status", "body", "code", "expected"),
    [
        ("299 Fine", (b"ok",), 299, b"ok"),
        ("298 Fine", (bytearray(b"ba"),), 298, b"ba"),  # not bytes: converted
        ("297 Fine", (b"a", memoryview(b"b")), 297, b"ab"),
    ],
)
def test_a_status_seen_before_answers_the_same(status, body, code, expected):
    first, again = run(simple(status, body=body)), run(simple(status, body=body))
    for response in (first, again):
        assert (response.code, response.status, response.body) == (code, status, expected)
        assert type(response.body) is bytes


def test_a_status_without_a_code_is_refused_every_time():
    for _ in range(2):
        with pytest.raises(HTTPError) as raised:
            run(simple("abc Nope"))
        assert raised.value.code == 500
    with pytest.raises(HTTPError):
        run(lambda environ, start_response: [b"no start_response"])


def test_generator_body_streams_and_close_is_called():
    closed = []

    class Body:
        def __iter__(self):
            yield b""
            yield b"first"
            yield b"second"

        def close(self):
            closed.append(True)

    def app(environ, start_response):
        start_response("201 Created", [])
        return Body()

    response = run(app)
    assert response.code == 201 and response.body is None
    assert list(response.iterable) == [b"first", b"second"]
    response.finish()
    assert closed == [True]


def early_sink() -> tuple:
    """A connection's sink for write(): records the head's response and each chunk sent."""
    sent: list = []
    return (lambda response: sent.append(response) or sent.append), sent


@pytest.mark.parametrize("kind", [iter, list, tuple])
def test_write_sends_at_once_and_the_returned_body_follows(kind):
    def app(environ, start_response):
        write = start_response("200 OK", [])
        write(b"one ")
        assert sent[1:] == [b"one "]  # out before the app returns
        return kind([b"two"])

    sink, sent = early_sink()
    response = run(app, early=sink)
    assert response is sent[0] and list(response.iterable) == [b"two"]


def test_exc_info_replaces_the_head_before_any_body():
    def app(environ, start_response):
        start_response("200 OK", [("X-A", "1")])
        try:
            raise ValueError("x")
        except ValueError:
            start_response("503 Service Unavailable", [("X-B", "2")], sys.exc_info())
        return [b"sorry"]

    response = run(app)
    assert response.code == 503 and response.headers == [("X-B", "2")]


def test_exc_info_after_body_reraises():
    def app(environ, start_response):
        write = start_response("200 OK", [])
        write(b"already out")
        try:
            raise ValueError("late")
        except ValueError:
            start_response("500 Oops", [], sys.exc_info())
        return []

    with pytest.raises(ValueError, match="late"):
        run(app, early=early_sink()[0])


@pytest.mark.parametrize(
    "app",
    [
        lambda environ, start: [b"no start_response"],
        lambda environ, start: (start("200 OK", []), start("200 OK", []))[0] or [],
        lambda environ, start: start("OK", []) or [],
        lambda environ, start: start("200 OK", ()) or [],
        lambda environ, start: start(["200 OK"], []) or [],
    ],
    ids=["missing", "twice", "bad-status", "headers-not-list", "status-list"],
)
def test_protocol_violations_raise(app):
    with pytest.raises((AssertionError, Exception)):
        run(app)


def test_close_is_called_when_the_app_fails_after_returning():
    closed = []

    class Body:
        def __iter__(self):
            raise RuntimeError("broken iterator")

        def close(self):
            closed.append(True)

    def app(environ, start_response):
        start_response("200 OK", [])
        return Body()

    with pytest.raises(RuntimeError):
        run(app)
    assert closed == [True]


def test_file_wrapper_uses_the_file_range(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"0123456789")
    handle = open(path, "rb")  # noqa: SIM115 -- closed by the response
    handle.seek(3)

    def app(environ, start_response):
        start_response("200 OK", [("Content-Length", "5")])
        return environ["wsgi.file_wrapper"](handle)

    response = run(app)
    assert (response.file, response.offset, response.count) == (handle, 3, 5)
    response.finish()
    assert handle.closed


def test_file_wrapper_over_a_stream_is_iterated():
    def app(environ, start_response):
        start_response("200 OK", [])
        return environ["wsgi.file_wrapper"](io.BytesIO(b"x" * 10), 4)

    response = run(app)
    assert response.file is None and b"".join(response.iterable) == b"x" * 10
