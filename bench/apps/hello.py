"""The WSGI apps every Python server under test runs: ours, gunicorn and waitress alike.

`app` is the hello-world. `files` serves the static cases for the WSGI-only peers (gunicorn,
waitress), which have no static file server of their own, through `wsgi.file_wrapper`, which
they turn into sendfile; ours serve the same files with their own `--root`.
"""

from __future__ import annotations

import os

BODY = b"Hello, World!\n"
HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))]
ROOT = os.environ.get("BENCH_STATIC_ROOT", ".")


def app(environ, start_response):
    start_response("200 OK", HEADERS)
    return [BODY]


def files(environ, start_response):
    name = os.path.basename(environ.get("PATH_INFO", ""))
    path = os.path.join(ROOT, name)
    if not name or not os.path.isfile(path):
        start_response("404 Not Found", [("Content-Length", "0")])
        return [b""]
    size = os.path.getsize(path)
    start_response(
        "200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(size))]
    )
    f = open(path, "rb")  # noqa: SIM115 -- the server closes it through the file wrapper
    wrapper = environ.get("wsgi.file_wrapper")
    return wrapper(f, 65536) if wrapper else iter(lambda: f.read(65536), b"")
