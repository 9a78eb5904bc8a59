"""A raw WSGI app exercising PEP 3333: environ, input, streaming, write(), file_wrapper,
exc_info and close(). Each close() appends the path to closed.log (next to this file)."""

import hashlib
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BIG = os.path.join(HERE, "..", "root", "big.bin")


class Closing:
    def __init__(self, chunks, path, fail_after=None):
        self.chunks, self.path, self.fail_after = chunks, path, fail_after

    def __iter__(self):
        for i, chunk in enumerate(self.chunks):
            if self.fail_after is not None and i == self.fail_after:
                raise RuntimeError("midstream failure")
            yield chunk

    def close(self):
        with open(os.path.join(HERE, "closed.log"), "a") as f:
            f.write(self.path + "\n")


def app(environ, start_response):
    path = environ["PATH_INFO"]
    route = ROUTES.get(path, not_found)
    return route(environ, start_response)


def info(environ, start_response):
    keys = (
        "REQUEST_METHOD",
        "SCRIPT_NAME",
        "PATH_INFO",
        "QUERY_STRING",
        "SERVER_PROTOCOL",
        "REMOTE_ADDR",
        "CONTENT_LENGTH",
        "CONTENT_TYPE",
        "HTTP_X_TEST",
        "HTTP_HOST",
        "wsgi.url_scheme",
        "wsgi.multithread",
        "wsgi.multiprocess",
        "wsgi.run_once",
        "SERVER_NAME",
        "SERVER_PORT",
    )
    body = json.dumps({k: environ.get(k) for k in keys}).encode()
    assert environ["wsgi.version"] == (1, 0)
    environ["wsgi.errors"].write("wsgi.errors works\n")
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


def read_input(environ, start_response):
    stream = environ["wsgi.input"]
    first = stream.readline()
    second = stream.read(5)
    rest_lines = stream.readlines()
    data = first + second + b"".join(rest_lines)
    result = {
        "first": first.decode("latin-1"),
        "lines": len(rest_lines),
        "length": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "type": type(stream).__name__,
    }
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(result).encode()]


def iterate_input(environ, start_response):
    count = sum(1 for _ in environ["wsgi.input"])
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(count).encode()]


def stream(environ, start_response):
    def generate():
        start_response("200 OK", [("Content-Type", "text/plain")])  # lazily, as PEP 3333 allows
        for i in range(50):
            yield f"chunk {i}\n".encode()
        yield b""

    return Closing(generate(), "/stream")


def write(environ, start_response):
    out = start_response("200 OK", [("Content-Type", "text/plain")])
    out(b"written ")
    out(b"first, ")
    return [b"then returned"]


def write_live(environ, start_response):
    """write() must reach the client while the app runs: this app waits (at most 10 s) for the
    client to create the file named by the query string, which it does once it has read it."""
    out = start_response("200 OK", [("Content-Type", "text/plain")])
    out(b"sent before the app returns\n")
    flag = os.path.join(HERE, os.path.basename(environ["QUERY_STRING"]))
    deadline = time.monotonic() + 10
    while not os.path.exists(flag) and time.monotonic() < deadline:
        time.sleep(0.01)
    return [b"the client had it: %s\n" % (b"yes" if os.path.exists(flag) else b"no")]


def file(environ, start_response):
    f = open(BIG, "rb")  # noqa: SIM115 -- the server closes it (close())
    f.seek(100)
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return environ["wsgi.file_wrapper"](f, 8192)


def exc_info(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    try:
        raise ValueError("app noticed a problem")
    except ValueError:
        start_response(
            "500 Internal Server Error", [("Content-Type", "text/plain")], sys.exc_info()
        )
    return [b"replaced by the error page"]


def closing(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "6")])
    return Closing([b"closed"], "/closing")


def fail_midstream(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return Closing([b"part one\n", b"part two\n", b"never"], "/fail", fail_after=2)


def short(environ, start_response):
    start_response("200 OK", [("Content-Length", "100")])
    return Closing(iter([b"only ten b"]), "/short")


def raising(environ, start_response):
    raise KeyError("wsgi-secret-marker")


def splitting(environ, start_response):
    start_response("200 OK", [("X-Evil", "a\r\nSet-Cookie: pwned=1")])
    return [b"no"]


def not_found(environ, start_response):
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"wsgimod: no such route\n"]


ROUTES = {
    "/": info,
    "/input": read_input,
    "/iterate": iterate_input,
    "/stream": stream,
    "/write": write,
    "/write-live": write_live,
    "/file": file,
    "/excinfo": exc_info,
    "/closing": closing,
    "/fail": fail_midstream,
    "/short": short,
    "/raise": raising,
    "/split": splitting,
}
