"""Which code answers a request, and the bookkeeping around every answer.

Order: operations endpoints (`/-/health`, `/-/metrics`), then handler modules (`/name` when
`DIR/name.py` exists), then static files, then the WSGI app. With both `--root` and `--app`,
a file that exists under the root shadows the app for GET and HEAD; everything else goes to
the app. Errors raised on purpose (`HTTPError`) become their status; any other exception is
a 500 whose traceback goes to the log, never to the client.
"""

from __future__ import annotations

from collections.abc import Callable

from ...metrics import METRICS
from ...net.trusted import TrustedPeers
from .accesslog import AccessLog
from .connection import Application, Handler
from .errors import HTTPError, NotFound
from .forwarded import apply_forwarded
from .ops import DURATION, Ops
from .request import Request
from .response import Response, error_response


class Router(Application):
    def __init__(
        self,
        *,
        ops: Ops | None = None,
        modules=None,
        static=None,
        app=None,
        access_log: AccessLog | None = None,
        proxies: TrustedPeers | None = None,
    ):
        self.ops = ops
        self.modules = modules
        self.static = static
        self.app = app  # (the property: binds its respond)
        self.access_log = access_log
        self.proxies = proxies if proxies else None
        #: Called after each request but health checks and metrics (prefork's --max-requests).
        self.on_request: Callable[[], None] | None = None

    @property
    def app(self):
        """The WSGI app (a WSGIApp), or None; a new worker may load it again."""
        return self._app

    @app.setter
    def app(self, app) -> None:
        # its respond bound here, once: `respond` hands it out for every request
        self._app, self._app_respond = app, (None if app is None else app.respond)

    def respond(self, request: Request) -> Response | Handler:
        """The answer, or the application code (a module, the app) that will make it; the
        connection runs that code with its early sink (WSGI write() sends through it). The
        routing is inline, not a method of its own: a frame fewer for every request."""
        _START(_IN_FLIGHT, 1)
        if self.proxies is not None:
            apply_forwarded(self.proxies, request)
        try:
            if self.ops is not None and request.raw_path in self.ops.routes:  # no call per request
                return self.ops.respond(request)
            if self.modules is not None:
                handler = self.modules.find(request)
                if handler is not None:
                    return handler
            if self.static is not None:
                if self._app is None:
                    return self.static.respond(request)
                if request.method in ("GET", "HEAD"):
                    response = self.static.respond_if_file(request)
                    if response is not None:
                        return response
            if self._app_respond is not None:
                return self._app_respond
            raise NotFound(f"nothing is served at {request.raw_path}")
        except (Exception, SystemExit) as exc:
            return self.failed(request, exc)

    def failed(self, request: Request, exc: BaseException) -> Response:
        """An HTTPError raised on purpose is its status; anything else a 500, logged with its
        traceback (the Application's answer)."""
        if isinstance(exc, HTTPError):
            return error_response(exc)
        return super().failed(request, exc)

    def finished(self, request: Request | None, response: Response, sent: int, now: float) -> None:
        # every metric of the request in one update (one lock): this runs for every request
        code = _CODE_PLACES.get(response.code) or _code_place(response.code)
        if request is not None:
            _FINISH(now - request.started, code, _BYTES, sent)  # also ends it in flight
            if self.on_request is not None and not (self.ops and self.ops.serves(request)):
                self.on_request()
        else:
            _REFUSED(code, 1, _BYTES, sent)
        if self.access_log is not None:
            self.access_log.write(request, response, sent)

    def draining(self) -> None:
        if self.ops is not None:
            self.ops.draining = True

    def reload(self) -> None:
        if self.modules is not None:
            self.modules.reload_all()


_IN_FLIGHT = METRICS.place("http_requests_in_flight")
_BYTES = METRICS.place("http_response_bytes_total")
# Request recorders: only these add to the request metrics' places (their lock is skipped
# while one thread serves every connection: Metrics.serving).
_START = METRICS.recorder(1, requests=True)
_FINISH = METRICS.recorder(1, METRICS.histogram_places(DURATION), True)  # counts the code too
_REFUSED = METRICS.recorder(2, requests=True)  # answered before a request was made: no latency
_CODE_PLACES: dict[int, int] = {}  # status code -> its place in http_requests_total


def _code_place(code: int) -> int:
    _CODE_PLACES[code] = place = METRICS.place("http_requests_total", str(code))
    return place
