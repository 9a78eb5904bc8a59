"""The router: order of the parts, errors to statuses, metrics and the access log."""

from __future__ import annotations

import json
import time

import pytest

from server.protocols.http.accesslog import AccessLog
from server.protocols.http.errors import Forbidden
from server.protocols.http.ops import Ops
from server.protocols.http.request import Request
from server.protocols.http.response import Response
from server.protocols.http.router import Router


class Part:
    def __init__(self, name, answers=True, error=None):
        self.name, self.answers, self.error = name, answers, error

    def respond(self, request, early=None):  # as the app, it is given the early sink too
        if self.error:
            raise self.error
        return Response(self.name) if self.answers else None

    respond_if_file = respond

    def find(self, request):
        """As HandlerModules.find: the entry point when this part answers."""
        if self.error:
            raise self.error
        return self.respond if self.answers else None


def answer(router, req):
    """The router's response, running the application code it hands back (as the connection
    does under INLINE: a failure is the router's `failed` answer)."""
    result = router.respond(req)
    if isinstance(result, Response):
        return result
    try:
        return result(req, no_early)
    except (Exception, SystemExit) as exc:
        return router.failed(req, exc)


def no_early(response):
    raise AssertionError("nothing here sends before the application returns")


def request(target="/x", method="GET"):
    origin = (("127.0.0.1", 1), "127.0.0.1", "http")  # what the connection gives
    return Request(method, target, "HTTP/1.1", {"host": "h"}, origin)


@pytest.mark.parametrize(
    ("parts", "method", "expected"),
    [
        ({"modules": Part("mod"), "static": Part("static"), "app": Part("app")}, "GET", "mod"),
        ({"modules": Part("mod", False), "static": Part("static"), "app": Part("app")}, "GET",
         "static"),
        ({"modules": Part("mod", False), "static": Part("static", False), "app": Part("app")},
         "GET", "app"),
        ({"static": Part("static"), "app": Part("app")}, "POST", "app"),
        ({"static": Part("static")}, "POST", "static"),
    ],
)  # fmt: skip
def test_order(parts, method, expected):
    assert answer(Router(**parts), request(method=method)).body == expected.encode()


def test_nothing_configured_is_404():
    assert answer(Router(), request()).code == 404


def test_errors_become_statuses_and_tracebacks_stay_in_the_log(caplog):
    assert answer(Router(app=Part("a", error=Forbidden("no"))), request()).code == 403
    response = answer(Router(app=Part("a", error=RuntimeError("secret"))), request())
    assert response.code == 500 and b"secret" not in response.body
    assert answer(Router(app=Part("a", error=SystemExit(3))), request()).code == 500
    assert "secret" in caplog.text and "Traceback" in caplog.text


def test_application_code_is_handed_back_and_the_rest_answered_at_once():
    router = Router(ops=Ops("/-"), modules=Part("mod", False), static=Part("static", False),
                    app=Part("app"))  # fmt: skip
    assert isinstance(router.respond(request("/-/health")), Response)
    handler = router.respond(request("/x"))
    assert not isinstance(handler, Response) and handler(request("/x"), no_early).body == b"app"
    router = Router(static=Part("static"), app=Part("app"))
    assert router.respond(request("/x")).body == b"static"


def test_ops_paths_come_first_and_only_for_get(tmp_path):
    router = Router(ops=Ops("/-", "r1"), app=Part("app"))
    health = router.respond(request("/-/health"))
    assert json.loads(health.body)["served_by"] == "r1"
    assert answer(router, request("/-/healthz")).body == b"app"
    assert router.respond(request("/-/metrics", "DELETE")).code == 405
    router.draining()
    assert router.respond(request("/-/health")).code == 503


@pytest.mark.parametrize(
    ("fmt", "check"),
    [
        ("common", lambda line: line.startswith("127.0.0.1 - - [") and 'HTTP/1.1" 200 3' in line),
        ("json", lambda line: json.loads(line)["status"] == 200 and json.loads(line)["bytes"] == 3),
    ],
)  # fmt: skip
def test_access_log(tmp_path, fmt, check):
    path = tmp_path / "access.log"
    router = Router(app=Part("app"), access_log=AccessLog(str(path), fmt, "r1"))
    req = request()
    router.finished(req, answer(router, req), 3, time.monotonic())
    router.finished(None, Response(b"bad", 400), 3, time.monotonic())
    lines = path.read_text().splitlines()
    assert check(lines[0]) and len(lines) == 2
    assert ('"-" 400' in lines[1]) if fmt == "common" else json.loads(lines[1])["status"] == 400


def test_access_log_escapes_quotes(tmp_path):
    log = AccessLog(str(tmp_path / "a.log"))
    line = log._common(request('/a"b\\c'), Response(b""), 0)
    assert '"GET /a\\"b\\\\c HTTP/1.1" 200 -' in line
