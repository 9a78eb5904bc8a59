"""HTTP/1.1 (RFC 9110/9112): a sans-IO protocol, static files, handler modules and WSGI.

    parser.py      strict request parser (bytes in, Request out, HTTPError for bad input)
    connection.py  HTTPProtocol: keep-alive, pipelining, timeouts, writing answers
    router.py      ops endpoints -> handler modules -> static files -> WSGI app
    static.py      files under --root (validators.py: conditional requests and ranges)
    modules.py     handler modules loaded (and reloaded) from --handlers
    wsgi.py        PEP 3333 adapter for --app and for modules that define `app`
    ops.py         /-/health and /-/metrics;  accesslog.py;  forwarded.py

Handler modules import what they need from here: `from server.protocols.http import Response`.
"""

from __future__ import annotations

from collections.abc import Callable

from ...net.proxy_gate import ProxyPolicy
from ...net.tls import TlsPolicy
from ...service import ProtocolService
from .config import HTTPConfig
from .connection import Application, HTTPProtocol
from .errors import (
    BadRequest,
    Forbidden,
    HTTPError,
    InternalError,
    MethodNotAllowed,
    NotFound,
    ServiceUnavailable,
)
from .request import Request
from .response import Response
from .router import Router


class HTTPService(ProtocolService):
    """The HTTP protocol as a service; SIGHUP reloads the handler modules."""

    def __init__(
        self,
        router: Router,
        config: HTTPConfig,
        idle_timeout: float | None,
        proxy: ProxyPolicy | None = None,
        tls: TlsPolicy | None = None,
        load_app: Callable[..., Application] | None = None,
    ):
        super().__init__(
            "http",
            stream=lambda loop: HTTPProtocol(router, config, loop),
            idle_timeout=idle_timeout,
            proxy=proxy,
            tls=tls,
        )
        self.router = router
        self.load_app = load_app  # load_app(fresh=True) imports --app from disk again

    def reload(self) -> None:
        super().reload()
        self.router.reload()

    def worker_started(self, fresh_code: bool = False) -> None:
        """A new prefork worker loads every handler module afresh; after a HUP the app and
        the TLS certificate too."""
        super().worker_started(fresh_code)
        if fresh_code and self.load_app is not None:
            self.router.app = self.load_app(fresh=True)
        self.router.reload()

    def count_requests(self, served: Callable[[], None]) -> bool:
        self.router.on_request = served
        return True


__all__ = [
    "BadRequest",
    "Forbidden",
    "HTTPConfig",
    "HTTPError",
    "HTTPProtocol",
    "HTTPService",
    "InternalError",
    "MethodNotAllowed",
    "NotFound",
    "Request",
    "Response",
    "Router",
    "ServiceUnavailable",
]
