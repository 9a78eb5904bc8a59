"""Operations endpoints: `<prefix>/health` (JSON), `<prefix>/metrics` (Prometheus text) and
`<prefix>/workers` (JSON: connections and requests of each serving process, how evenly prefork
spreads the load; read from the metric rows, so it costs the requests nothing).

The prefix (`--ops-prefix`, default `/-`) keeps them apart from an application's own paths;
an empty prefix turns both off. Health answers 503 once the server is draining, so a load
balancer stops sending new requests to a replica that is shutting down.
"""

from __future__ import annotations

import json
import os
import time

from ...metrics import CONTENT_TYPE, METRICS
from .errors import MethodNotAllowed
from .request import Request
from .response import Response

#: Status codes counted by name; any other is counted as "other".
COUNTED_STATUSES = [
    *("200", "201", "204", "206", "301", "302", "304", "400", "401", "403", "404", "405"),
    *("408", "411", "413", "414", "416", "417", "431", "500", "501", "502", "503", "505"),
    "other",
]
METRICS.counter(
    "http_requests_total", "HTTP requests answered, by status code.", "code", COUNTED_STATUSES
)
METRICS.counter("http_response_bytes_total", "Bytes of HTTP response bodies sent.")
#: From the request's head parsed to its last byte handed to the kernel. Requests refused
#: before they parse (400s) are counted in http_requests_total only.
DURATION = "http_request_duration_seconds"
#: Fixed bounds, 250 µs (a small static file) to 10 s (a slow app or a slow client).
DURATION_BOUNDS = (
    *(0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05),
    *(0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
#: Split by status code: one add per request counts both (http_requests_total adds them up).
METRICS.histogram(
    DURATION, "HTTP request latency, in seconds.", DURATION_BOUNDS, by="http_requests_total"
)
#: Only added to as a request starts: its latency's observation is its end.
METRICS.gauge("http_requests_in_flight", "HTTP requests being handled now.", less=DURATION)


class Ops:
    def __init__(self, prefix: str, served_by: str = ""):
        self.prefix = prefix.rstrip("/")
        self.served_by = served_by
        self.draining = False
        #: Path -> endpoint. Public: the router looks a path up here before it calls respond().
        self.routes = {
            f"{self.prefix}/health": self.health,
            f"{self.prefix}/metrics": self.metrics,
            f"{self.prefix}/workers": self.workers,
        }

    def serves(self, request: Request) -> bool:
        return request.raw_path in self.routes

    def respond(self, request: Request) -> Response | None:
        """The answer for an operations path, or None for any other path."""
        route = self.routes.get(request.raw_path)
        if route is None:
            return None
        if request.method not in ("GET", "HEAD"):
            raise MethodNotAllowed(f"{request.method} is not allowed here")
        return route()

    def health(self) -> Response:
        info = METRICS.info
        body = {
            "status": "draining" if self.draining else "ok",
            "service": info.get("service", "http"),
            "model": info.get("model", ""),
            "worker_model": info.get("worker_model", ""),
            "served_by": self.served_by,
            "pid": os.getpid(),
            "uptime_seconds": round(time.time() - METRICS.started, 3),
            "connections_open": METRICS.value("server_connections_open"),
            "requests_in_flight": METRICS.value("http_requests_in_flight"),
            "workers": METRICS.value("server_workers"),
        }
        return Response(
            json.dumps(body).encode(),
            503 if self.draining else 200,
            [("Cache-Control", "no-store")],
            "application/json",
        )

    def metrics(self) -> Response:
        headers = [("Cache-Control", "no-store")]
        return Response(METRICS.render().encode(), 200, headers, CONTENT_TYPE)

    def workers(self) -> Response:
        """Per process (pid), what it served since it started; sorted by pid."""
        spread = METRICS.by_process("server_connections_total", "http_requests_total")
        rows = [
            {"pid": pid, "connections": c["server_connections_total"],
             "requests": c["http_requests_total"]}
            for pid, c in sorted(spread.items())
        ]  # fmt: skip
        body = json.dumps({"workers": rows}).encode()
        return Response(body, 200, [("Cache-Control", "no-store")], "application/json")
