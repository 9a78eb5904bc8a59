"""One access log line per request: common log format, or JSON with --access-log-format json.

`--access-log -` writes to standard output, `--access-log PATH` appends to a file; with neither
there is no access log and the request path does no logging work at all. Each line is one
`os.write` on an O_APPEND descriptor, so the lines of several workers never interleave, through
a LineSink: standard output that is a full pipe drops lines (counted) instead of blocking.
"""

from __future__ import annotations

import json
import os
import time

from ...errors import ConfigError
from ...logsink import LineSink
from .request import Request
from .response import Response

FORMATS = ("common", "json")
_ESCAPES = str.maketrans({'"': '\\"', "\\": "\\\\"})


class AccessLog:
    def __init__(self, target: str, fmt: str = "common", served_by: str = ""):
        if fmt not in FORMATS:
            raise ConfigError(f"--access-log-format must be one of {', '.join(FORMATS)}")
        self.format = self._json if fmt == "json" else self._common
        self.served_by = served_by
        if target == "-":
            self.fd = 1
        else:
            try:
                self.fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            except OSError as exc:
                raise ConfigError(f"--access-log {target!r}: {exc.strerror}") from None
        self.sink = LineSink(self.fd, "access")
        self._second = -1
        self._stamp = ""

    def write(self, request: Request | None, response: Response, sent: int) -> None:
        self.sink.write(self.format(request, response, sent).encode("utf-8", "replace"))

    def _clf_time(self) -> str:
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._stamp = time.strftime("%d/%b/%Y:%H:%M:%S %z", time.localtime(now))
        return self._stamp

    def _common(self, request: Request | None, response: Response, sent: int) -> str:
        if request is None:
            client, line = "-", "-"
        else:
            client = request.remote_addr or "-"
            line = f"{request.method} {request.target} {request.version}".translate(_ESCAPES)
        return f'{client} - - [{self._clf_time()}] "{line}" {response.code} {sent or "-"}\n'

    def _json(self, request: Request | None, response: Response, sent: int) -> str:
        record = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "status": response.code,
            "bytes": sent,
        }
        if request is not None:
            record.update(
                remote=request.remote_addr,
                method=request.method,
                target=request.target,
                protocol=request.version,
                duration_ms=round((time.monotonic() - request.started) * 1000, 3),
                user_agent=request.headers.get("user-agent", ""),
                referer=request.headers.get("referer", ""),
            )
        if self.served_by:
            record["served_by"] = self.served_by
        return json.dumps(record, ensure_ascii=False) + "\n"

    def close(self) -> None:
        self.sink.flush()
        if self.fd > 2:
            os.close(self.fd)
