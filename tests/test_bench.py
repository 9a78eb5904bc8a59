"""The benchmark's plumbing, so it does not rot: parsing, statistics, targets, tables, clients.

No timing is asserted: these check that the benchmark measures and reports, not how fast.
"""

from __future__ import annotations

import socket
import sys
import threading

import pytest

from bench import c10k, ftpclient, httpbench, tables, wrk
from bench.fleet import alternate
from bench.procs import Proc
from bench.report import markdown, target_lines
from bench.results import LIMIT, OURS, PEER, Figure, Results, best, ratio
from bench.servers import Spec
from bench.targets import all_targets

WRK_OUTPUT = """\
Running 1s test @ http://127.0.0.1:8080/
  2 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.24ms    1.00ms  12.00ms   80.00%
    Req/Sec     7.75k   500.00     8.50k    70.00%
  15500 requests in 1.00s, 1.20MB read
  Socket errors: connect 0, read 2, write 0, timeout 12
  Non-2xx or 3xx responses: 5
Requests/sec:  15480.12
Transfer/sec:      1.20MB
"""


def test_wrk_output_is_parsed():
    result = wrk.parse(WRK_OUTPUT)
    assert result.rate == pytest.approx(15480.12)
    assert result.requests == 15500
    assert result.bytes_per_sec == pytest.approx(1.2 * 2**20)
    assert result.errors == {"read": 2, "timeout": 12, "non-2xx": 5}
    assert result.error_note() == "2 read, 12 timeout, 5 non-2xx"


def test_wrk_refuses_output_without_a_rate_and_targets_off_loopback():
    with pytest.raises(ValueError):
        wrk.parse("unable to connect to 127.0.0.1:1 Connection refused")
    with pytest.raises(ValueError):
        wrk.run("http://192.0.2.1/", 1, 1, 1)


def _fig(server, kind, samples, case="hello", suite="http", unit="req/s", **kw):
    return Figure(suite, case, server, kind, unit, list(samples), **kw)


def test_median_best_and_ratio():
    ours = _fig("epoll", OURS, [10, 30, 20])
    peer = _fig("gunicorn", PEER, [5, 9, 10])
    nginx = _fig("nginx", LIMIT, [100])
    assert ours.median == 20 and ours.spread == (10, 30)
    assert best([ours, peer, nginx], (PEER,)) is peer
    assert ratio(ours, peer) == pytest.approx(20 / 9)
    assert ratio(ours, None) is None
    small = _fig("a", OURS, [50], unit="MB", higher_is_better=False)
    big = _fig("b", OURS, [100], unit="MB", higher_is_better=False)
    assert best([small, big], (OURS,)) is small
    assert ratio(small, big) == 2.0  # twice as good: half the memory


def _results() -> Results:
    r = Results(meta={"mode": "quick", "settings": {"c10k": 100, "runs": 3}})
    r.figures += [
        _fig("epoll", OURS, [20_000, 21_000, 19_000]),
        _fig("gunicorn-gthread", PEER, [14_000]),
        _fig("nginx", LIMIT, [90_000]),
        _fig("epoll", OURS, [9_000], case="static-1k"),
        _fig("nginx", LIMIT, [90_000], case="static-1k"),
        _fig("epoll", OURS, [100], suite="c10k", case="held", unit="connections"),
        _fig("epoll", OURS, [60.0], suite="c10k", case="rss", unit="MB", higher_is_better=False),
        _fig("epoll", OURS, [10_000], suite="c10k", case="unloaded"),
        _fig("epoll", OURS, [4_000], suite="c10k", case="loaded"),
    ]
    return r


def test_targets_pass_miss_and_not_measured():
    verdicts = {t.name: t.verdict for t in all_targets(_results())}
    assert verdicts["HTTP hello-world: fastest model / best Python peer"] == "PASS"  # 1.43x
    assert verdicts["HTTP static 1 KiB: fastest model / nginx"] == "MISS"  # 0.10x
    assert verdicts["FTP RETR: fastest model / vsftpd"] == "N/A"
    assert verdicts["C10K epoll: RSS holding them"] == "PASS"
    assert verdicts["C10K epoll: hello-world rate loaded / unloaded"] == "MISS"  # 0.4x
    assert "MISS  HTTP static 1 KiB" in target_lines(_results())


def test_markdown_has_every_table_and_survives_a_json_round_trip(tmp_path):
    r = _results()
    r.save(tmp_path / "results.json")
    text = markdown(Results.load(tmp_path / "results.json"), ["http.png"])
    assert "| HTTP hello-world: fastest model / best Python peer | 1.43x | >= 1.30x" in text
    assert "## HTTP hello-world WSGI, keep-alive" in text
    assert "| epoll | ours |" in text and "## C10K" in text and "![http](http.png)" in text
    assert tables.table(["a", "b"], [[1, 2]]) == "| a | b |\n| --- | --- |\n| 1 | 2 |"


def test_servers_alternate_direction_every_round():
    specs = [Spec(n, OURS, "", lambda launch: []) for n in "abc"]
    order = [(rnd, s.name) for rnd, s in alternate(specs, 3)]
    assert [n for _, n in order] == list("abccbaabc")


def test_c10k_plumbing_against_our_http_server(tmp_path):
    """Our server with the benchmark's WSGI app: the check passes, idle connections are held."""
    app = ["--app", "bench.apps.hello:app", "--keepalive-timeout", "60"]
    argv = [sys.executable, "-m", "server", "http", "--model", "epoll", "--bind", "127.0.0.1:0"]
    argv += app
    with Proc("epoll", argv, tmp_path / "server.log") as proc:
        assert httpbench.check(proc.port, "hello") is None
        conns = c10k.open_idle(proc.port, 20)
        try:
            assert len(conns) == 20
            assert c10k.count_open(conns) == 20
            assert proc.memory()["rss_mb"] > 1
        finally:
            for sock in conns:
                sock.close()


class FakeFTP(threading.Thread):
    """Just enough FTP for the client: anonymous login, PASV, RETR of N bytes, QUIT."""

    def __init__(self, size: int):
        super().__init__(daemon=True)
        self.size, self.listener = size, socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]

    def run(self):
        while True:
            conn, _ = self.listener.accept()
            threading.Thread(target=self.session, args=(conn,), daemon=True).start()

    def session(self, conn):
        with conn, conn.makefile("rb") as lines:
            conn.sendall(b"220-hello\r\n220 ready\r\n")
            data = None
            for line in lines:
                verb = line.split()[0].upper()
                if verb == b"PASV":
                    data = socket.create_server(("127.0.0.1", 0))
                    port = data.getsockname()[1]
                    conn.sendall(b"227 (127,0,0,1,%d,%d)\r\n" % divmod(port, 256))
                elif verb == b"RETR":
                    conn.sendall(b"150 here\r\n")
                    with data, data.accept()[0] as channel:
                        channel.sendall(b"x" * self.size)
                    conn.sendall(b"226 done\r\n")
                else:
                    reply = {b"USER": b"331 pw", b"PASS": b"230 in", b"TYPE": b"200 ok"}
                    conn.sendall(reply.get(verb, b"221 bye") + b"\r\n")
                    if verb == b"QUIT":
                        return


def test_ftp_client_retr_and_sessions():
    server = FakeFTP(100_000)
    server.start()
    assert ftpclient.retr_rate(server.port, "big", 100_000) > 0
    rate, failures = ftpclient.sessions_rate(server.port, "small", count=12, concurrency=4)
    assert failures == 0 and rate > 0
    with pytest.raises(ftpclient.FTPError):
        ftpclient.retr_rate(server.port, "big", 5)  # a short or long file is an error
