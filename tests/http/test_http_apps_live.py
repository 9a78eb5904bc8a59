"""Handler modules, WSGI (a raw PEP 3333 app and a real Flask app), operations endpoints,
the access log and X-Forwarded-For, under every model."""

from __future__ import annotations

import hashlib
import json
import signal
import socket
import uuid

import requests
from client import exchange, get, read_reply, status_of

from harness import run_concurrently, wait_for


def url(http, path: str) -> str:
    return f"http://{http.host}:{http.port}{path}"


def closed_log(http) -> list[str]:
    path = http.site / "handlers" / "closed.log"
    return path.read_text().splitlines() if path.exists() else []


# -- handler modules ----------------------------------------------------------------------
def test_handle_api_answers(http):
    assert get(http, "/hello").body == b"hello /\n"
    assert get(http, "/hello/a/b?name=x").body == b"hello /a/b x\n"
    pot = get(http, "/teapot")
    assert pot.status == 418 and pot.header("x-tea") == "earl grey"
    missing = get(http, "/teapot/missing")
    assert missing.status == 404 and b"no such pot" in missing.body
    assert get(http, "/hellox").status == 404  # not a module: falls through to Flask


def test_module_that_raises_gives_500_and_logs_the_traceback(http):
    reply = get(http, "/boom")
    assert reply.status == 500
    assert b"handler-secret-marker" not in reply.body and b"Traceback" not in reply.body
    wait_for(lambda: "handler-secret-marker" in http.log(), what="the traceback in the log")


def test_broken_module_breaks_only_its_own_path(http):
    assert get(http, "/broken").status == 500
    assert get(http, "/hello").status == 200
    assert "SyntaxError" in "\n".join(http.lines)


def test_module_edited_on_disk_is_reloaded(http):
    name = f"live_{uuid.uuid4().hex[:8]}"
    module = http.site / "handlers" / f"{name}.py"
    module.write_text("def handle(request):\n    return 'version one'\n")
    assert get(http, f"/{name}").body == b"version one"
    module.write_text("def handle(request):\n    return 'version two, longer'\n")
    assert get(http, f"/{name}").body == b"version two, longer"
    module.write_text("def handle(request)\n    return 'syntax error'\n")
    assert get(http, f"/{name}").status == 500
    assert get(http, "/hello").status == 200
    module.write_text("def handle(request):\n    return {'fixed': True}\n")
    fixed = get(http, f"/{name}")
    assert fixed.status == 200 and json.loads(fixed.body) == {"fixed": True}
    module.unlink()
    assert get(http, f"/{name}").status == 404


def test_sighup_reloads_and_keeps_serving(http):
    http.signal(signal.SIGHUP)
    wait_for(lambda: any("reloading" in x or "replacing" in x for x in http.lines), what="HUP")
    wait_for(lambda: get(http, "/hello").status == 200, what="serving after HUP")
    if http.model == "prefork":  # the old workers drain once every new one is ready
        wait_for(lambda: "new workers ready" in http.log(), what="the new workers ready")
        wait_for(
            lambda: json.loads(get(http, "/-/health").body)["workers"] == 2,
            what="only the new workers serving",
        )


# -- WSGI through a handler module -----------------------------------------------------------
def test_wsgi_environ(http):
    reply = get(http, "/wsgimod/?q=1&r=%20", "X-Test: yes\r\n")
    env = json.loads(reply.body)
    assert env["SCRIPT_NAME"] == "/wsgimod" and env["PATH_INFO"] == "/"
    assert env["QUERY_STRING"] == "q=1&r=%20" and env["HTTP_X_TEST"] == "yes"
    assert env["REQUEST_METHOD"] == "GET" and env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["REMOTE_ADDR"] == "127.0.0.1" and env["wsgi.url_scheme"] == "http"
    assert env["wsgi.multithread"] == (http.model in ("thread", "threadpool", "hybrid"))
    assert env["wsgi.multiprocess"] == (http.model in ("fork", "prefork"))
    assert env["wsgi.run_once"] is False and env["SERVER_PORT"] == str(http.port)
    # the app's wsgi.errors line reaches the log through a pipe: it may trail the response
    wait_for(lambda: "wsgi.errors works" in "\n".join(http.lines), what="the wsgi.errors line")


def test_wsgi_input_iteration_and_chunked_body(http):
    lines = b"".join(b"line %d\n" % i for i in range(100))
    assert requests.post(url(http, "/wsgimod/iterate"), data=lines).text == "100"
    chunked = requests.post(url(http, "/wsgimod/input"), data=iter([b"ab\ncd", b"ef\ngh\n"]))
    assert chunked.json()["first"] == "ab\n" and chunked.json()["length"] == 11


def test_wsgi_streaming_write_and_close(http):
    with http.connect() as sock:  # keep-alive: an unknown length is sent chunked
        sock.sendall(b"GET /wsgimod/stream HTTP/1.1\r\nHost: t\r\n\r\n")
        stream = read_reply(sock.makefile("rb"))
    assert stream.header("transfer-encoding") == "chunked"
    assert stream.body == b"".join(b"chunk %d\n" % i for i in range(50))
    wait_for(lambda: "/stream" in closed_log(http), what="close() after streaming")
    assert get(http, "/wsgimod/write").body == b"written first, then returned"
    head = get(http, "/wsgimod/closing", method="HEAD")
    assert head.status == 200 and head.header("content-length") == "6"
    wait_for(lambda: "/closing" in closed_log(http), what="close() after HEAD")


def test_wsgi_write_reaches_the_client_while_the_app_runs(http):
    flag = f"read-{uuid.uuid4().hex[:8]}"
    with http.connect() as sock:
        sock.settimeout(5)  # the app waits 10 s for the flag: data held back would time out
        sock.sendall(f"GET /wsgimod/write-live?{flag} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        got = b""
        while b"sent before the app returns" not in got:
            data = sock.recv(4096)
            assert data, got
            got += data
        (http.site / "handlers" / flag).touch()
        while not got.endswith(b"0\r\n\r\n"):
            data = sock.recv(4096)
            assert data, got
            got += data
    head, _, body = got.partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head.lower()
    first, then = b"sent before the app returns\n", b"the client had it: yes\n"
    assert body == b"1c\r\n%s\r\n17\r\n%s\r\n0\r\n\r\n" % (first, then)


def test_wsgi_file_wrapper(http):
    data = (http.site / "root" / "big.bin").read_bytes()
    reply = get(http, "/wsgimod/file")
    assert reply.body == data[100:]
    assert reply.header("content-length") == str(len(data) - 100)


def test_wsgi_errors(http):
    replaced = get(http, "/wsgimod/excinfo")
    assert replaced.status == 500 and replaced.body == b"replaced by the error page"
    raised = get(http, "/wsgimod/raise")
    assert raised.status == 500 and b"wsgi-secret-marker" not in raised.body
    split = get(http, "/wsgimod/split")
    assert split.status == 500 and split.header("set-cookie") is None
    assert get(http, "/hello").status == 200


def test_wsgi_failure_after_the_head_cuts_the_connection(http):
    raw, closed = exchange(http, b"GET /wsgimod/fail HTTP/1.1\r\nHost: t\r\n\r\n")
    assert closed and b"part one" in raw and not raw.endswith(b"0\r\n\r\n")
    wait_for(lambda: "/fail" in closed_log(http), what="close() after a failure")
    raw, closed = exchange(http, b"GET /wsgimod/short HTTP/1.1\r\nHost: t\r\n\r\n")
    assert closed and raw.endswith(b"only ten b")
    wait_for(lambda: "/short" in closed_log(http), what="close() after a short body")


# -- Flask ---------------------------------------------------------------------------------
def test_flask_app_runs_unchanged(http):
    with requests.Session() as session:
        assert session.get(url(http, "/flask/hello")).text == "hello from flask"
        body = {"numbers": list(range(100))}
        echoed = session.post(url(http, "/flask/echo?x=1"), json=body).json()
        assert echoed["json"] == body and echoed["args"] == {"x": "1"}
        upload = bytes(range(256)) * 100
        form = session.post(
            url(http, "/flask/form"), data={"name": "n"}, files={"upload": ("u.bin", upload)}
        ).json()
        assert form == {"name": "n", "sha256": hashlib.sha256(upload).hexdigest()}
        streamed = session.get(url(http, "/flask/stream"))
        assert streamed.text == "".join(f"line {i}\n" for i in range(200))
        boom = session.get(url(http, "/flask/boom"))
        assert boom.status_code == 500 and "flask-secret-marker" not in boom.text
        assert session.get(url(http, "/flask/nothing")).status_code == 404


def test_forwarded_for_is_honoured_only_from_trusted_proxies(http):
    headers = {"X-Forwarded-For": "203.0.113.9, 198.51.100.7", "X-Forwarded-Proto": "https"}
    trusted = requests.get(url(http, "/flask/remote"), headers=headers).json()
    assert trusted == {"remote": "198.51.100.7", "scheme": "https", "path": "/flask/remote"}
    with socket.create_connection((http.host, http.port), 10, ("127.0.0.2", 0)) as sock:
        sock.sendall(
            b"GET /flask/remote HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: 203.0.113.9\r\n"
            b"X-Forwarded-Proto: https\r\nConnection: close\r\n\r\n"
        )
        untrusted = json.loads(read_reply(sock.makefile("rb")).body)
    assert untrusted["remote"] == "127.0.0.2" and untrusted["scheme"] == "http"


# -- operations ----------------------------------------------------------------------------
def test_health_endpoint(http):
    workers = 2 if http.model == "prefork" else 1

    def health() -> dict | None:  # prefork's second worker may start after the first answers
        reply = get(http, "/-/health")
        assert reply.status == 200 and reply.header("content-type") == "application/json"
        found = json.loads(reply.body)
        return found if found["workers"] == workers else None

    found = wait_for(health, what=f"{workers} worker(s) counted")
    assert found["status"] == "ok" and found["model"] == http.model
    assert found["served_by"] == f"replica-{http.model}"
    assert get(http, "/-/health", method="POST").status == 405


def metric_values(http) -> tuple[str, dict[str, float]]:
    """/-/metrics: its text, and each sample's value by name and labels."""
    text = get(http, "/-/metrics").body.decode()
    values = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
    return text, values


def test_metrics_endpoint(http):
    for _ in range(3):
        get(http, "/hello.txt")
    get(http, "/missing-file-for-metrics")
    text, values = metric_values(http)
    assert values['http_requests_total{code="200"}'] >= 3
    assert values['http_requests_total{code="404"}'] >= 1
    assert values["http_requests_in_flight"] >= 1  # this very request
    assert values["server_connections_open"] >= 1
    assert values["server_workers"] == (2 if http.model == "prefork" else 1)
    assert values["server_uptime_seconds"] > 0
    assert values["http_response_bytes_total"] >= 3 * len("hello, static world\n")
    count = values["http_request_duration_seconds_count"]
    assert count >= 4 and values['http_request_duration_seconds_bucket{le="+Inf"}'] == count
    assert 0 < values["http_request_duration_seconds_sum"] < count * 10
    info = next(line for line in text.splitlines() if line.startswith("server_info{"))
    assert f'model="{http.model}"' in info and f'served_by="replica-{http.model}"' in info


def test_metrics_lose_no_request_of_many_at_once(http):
    """Threads serving connections count under a lock; a process serving them all from one
    thread counts without it (server/recorders.py): no model may lose a count either way."""
    clients, each = 8, 20
    missing = 'http_requests_total{code="404"}'  # what the scrapes (200) do not count

    def settled() -> dict[str, float] | None:  # a child or worker may count after replying
        values = metric_values(http)[1]
        return values if values["http_requests_in_flight"] == 1 else None  # the scrape

    before = wait_for(settled, what="no request in flight but the scrape")
    run_concurrently(lambda n: [get(http, f"/no-such-{n}-{i}") for i in range(each)], clients)
    after = wait_for(settled, what="no request in flight but the scrape")
    assert after[missing] - before[missing] == clients * each, (before[missing], after[missing])


def test_workers_endpoint_counts_each_serving_process(http):
    get(http, "/hello.txt")
    reply = get(http, "/-/workers")
    assert reply.status == 200 and reply.header("content-type") == "application/json"
    if http.model == "fork":  # the parent and whichever children are alive at that moment
        assert json.loads(reply.body)["workers"]
        return

    def rows():  # a worker starting, a request counted just after its answer: both settle
        found = json.loads(get(http, "/-/workers").body)["workers"]
        counted = sum(row["requests"] for row in found) >= 1
        return found if counted and len(found) == (2 if http.model == "prefork" else 1) else None

    found = wait_for(rows, what="every serving process's row")
    if http.model != "prefork":  # the one process that serves
        assert found[0]["pid"] == json.loads(get(http, "/-/health").body)["pid"]


def test_access_log(http):
    marker = uuid.uuid4().hex
    get(http, f"/hello.txt?{marker}")
    exchange(http, b"GET /a b c HTTP/1.1\r\n\r\n")
    log = http.site / "access.log"
    line = wait_for(
        lambda: next((x for x in log.read_text().splitlines() if marker in x), None),
        what="the access log line",
    )
    assert line.startswith("127.0.0.1 - - [")
    assert line.endswith(f'"GET /hello.txt?{marker} HTTP/1.1" 200 20')
    assert status_of(b"HTTP/1.1 400") == 400
    wait_for(lambda: '"-" 400' in log.read_text(), what="the refused request's line")
