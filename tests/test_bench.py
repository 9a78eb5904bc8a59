"""The benchmark's plumbing, so it does not rot: parsing, statistics, targets, tables, clients.

No timing is asserted: these check that the benchmark measures and reports, not how fast.
"""

from __future__ import annotations

import importlib.util
import socket
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from bench import (
    baseline,
    c10k,
    cluster_base,
    cluster_edge,
    cluster_scale,
    confs,
    fairness,
    ftpbench,
    ftpclient,
    httpbench,
    tables,
    tls,
    wrk,
)
from bench.context import SMALL_FTP_FILE, Context, Progress
from bench.fleet import alternate
from bench.procs import Proc, free_port
from bench.report import markdown, target_lines
from bench.results import BASELINE, COMPILED, LIMIT, OURS, PEER, Figure, Results, best, ratio
from bench.servers import Launch, Spec
from bench.settings import QUICK
from bench.targets import all_targets, cluster_targets
from harness import wait_for
from server.protocols.http import BadRequest

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


# `wrk -t2 -c64 -d1s --timeout 5s --latency` against our epoll model, recorded
WRK_LATENCY_OUTPUT = """\
Running 1s test @ http://127.0.0.1:18931/index.html
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     9.12ms    4.46ms  60.53ms   90.36%
    Req/Sec     3.60k     0.90k    4.75k    65.00%
  Latency Distribution
     50%    8.31ms
     75%    9.89ms
     90%   12.60ms
     99%   29.40ms
  7181 requests in 1.01s, 3.85MB read
Requests/sec:   7109.67
Transfer/sec:      3.81MB
"""


def test_wrk_latency_percentiles_are_parsed_in_ms():
    result = wrk.parse(WRK_LATENCY_OUTPUT)
    assert (result.rate, result.requests, result.errors) == (7109.67, 7181, {})
    assert result.p50_ms == pytest.approx(8.31) and result.p99_ms == pytest.approx(29.40)
    other_units = WRK_LATENCY_OUTPUT.replace("8.31ms", "812.00us").replace("29.40ms", "1.50s")
    slow = wrk.parse(other_units)
    assert slow.p50_ms == pytest.approx(0.812) and slow.p99_ms == pytest.approx(1500.0)
    assert wrk.parse(WRK_OUTPUT).p50_ms is None  # no distribution printed: not measured


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
        _fig("granian", COMPILED, [40_000]),
        _fig("bjoern", COMPILED, [35_000]),
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
    assert verdicts["HTTP hello-world: fastest model / granian (Rust)"] == "MISS"  # 0.5x
    assert verdicts["HTTP hello-world: fastest model / bjoern (C)"] == "PASS"  # 0.57x
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
    # the compiled anchors get their own column (the best of them), beside the limit's
    assert "| x best peer (gunicorn-gthread) | x granian | x nginx |" in text
    assert "| granian | compiled |" in text
    assert tables.table(["a", "b"], [[1, 2]]) == "| a | b |\n| --- | --- |\n| 1 | 2 |"


def test_a_baseline_runs_our_models_from_its_own_tree_and_gets_its_own_table(tmp_path):
    chosen = [Spec("epoll", OURS, "defaults", lambda launch: []), Spec("nginx", LIMIT, "", None)]
    found = baseline.check_out("HEAD", tmp_path)
    try:
        assert (found.tree / "server" / "__init__.py").exists()
        copies = baseline.with_baseline(chosen, found)
    finally:
        baseline.remove(found)
    assert not found.tree.exists()
    assert [(s.name, s.kind) for s in copies[2:]] == [(f"epoll@{found.ref}", BASELINE)]
    assert copies[2].root == found.tree and copies[0].root != found.tree
    r = Results(meta={"mode": "quick", "settings": {}, "baseline": "abc1234"})
    r.figures += [_fig("epoll", OURS, [30_000]), _fig("epoll@abc1234", BASELINE, [40_000])]
    r.figures.append(_fig("gunicorn-gthread", PEER, [10_000]))
    text = markdown(r, [])
    assert "## This tree against abc1234 (--baseline)" in text
    assert "| http hello | epoll | 30,000 | 40,000 | 0.75x | req/s |" in text
    # no target counts the baseline as one of our models (it would be 4.00x)
    assert "HTTP hello-world: fastest model / best Python peer | 3.00x |" in text


def test_requests_per_worker_table_and_the_anchors_ratios():
    r = _results()
    r.figures.append(_fig("prefork-reuseport", OURS, [30_000]))
    before = {10: (5, 100), 11: (3, 50), 12: (1, 1)}  # 12 was replaced during the run
    after = {10: (37, 60_100), 11: (35, 20_050), 13: (2, 9)}
    assert fairness.spread(before, after) == [[32, 60_000], [32, 20_000]]
    fairness.record(r, "prefork-reuseport", fairness.spread(before, after))
    text = markdown(r, [])
    assert "## Requests per worker, hello-world (prefork)" in text
    assert "| prefork-reuseport | 1 | 60,000 / 20,000 | 75.0% / 25.0% | 3.00x | 32 / 32 |" in text
    assert "| prefork-reuseport | 30,000 | 0.75x | 0.86x |" in text  # x granian, x bjoern
    assert "Requests per worker" not in markdown(_results(), [])  # no prefork measured


def test_requests_per_worker_from_our_prefork_with_reuse_port(tmp_path):
    argv = [sys.executable, "-m", "server", "http", "--model", "prefork", "--workers", "2"]
    argv += ["--reuse-port", "--bind", "127.0.0.1:0", "--app", "bench.apps.hello:app"]
    with Proc("prefork-reuseport", argv, tmp_path / "server.log") as proc:
        # as the benchmark's warm-up does: both workers are up before the counts are taken
        before = wait_for(lambda: _both_workers(proc.port), what="both workers' rows")
        for _ in range(30):  # fresh connections: the kernel hashes them over both workers
            assert httpbench.check(proc.port, "hello") is None
        counted = lambda: fairness.spread(before, fairness.snapshot(proc.port))  # noqa: E731
        rows = wait_for(lambda: sum(r for _, r in counted()) >= 30 and counted(), what="counts")
    assert len(rows) == 2 and sum(conns for conns, _ in rows) >= 30
    assert fairness.snapshot(proc.port) is None  # stopped: no counts, no exception


def test_the_reuse_port_variant_is_our_prefork_with_the_flag():
    spec = next(s for s in httpbench.specs() if s.name == "prefork-reuseport")
    plain = next(s for s in httpbench.specs() if s.name == "prefork")
    assert spec.ours and spec.workers and spec.root == plain.root
    argv = spec.argv(Launch(SimpleNamespace(python="python3"), "hello", 8000))
    assert argv[argv.index("--model") + 1] == "prefork" and "--reuse-port" in argv
    assert "--reuse-port" not in plain.argv(Launch(SimpleNamespace(python="python3"), "hello", 1))


def test_the_affinity_variant_pins_workers_on_reuse_port_sockets():
    spec = next(s for s in httpbench.specs() if s.name == "prefork-affinity")
    assert spec.ours and spec.workers
    argv = spec.argv(Launch(SimpleNamespace(python="python3"), "hello", 8000))
    assert {"--reuse-port", "--cpu-affinity"} <= set(argv)


def _both_workers(port: int):
    counts = fairness.snapshot(port)
    return counts if counts and len(counts) == 2 else None


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


def _cluster_results(edge_p99: str = "29.40ms", timeout: int = 0) -> Results:
    """Cluster figures recorded from wrk's output, as the suite records them."""
    r = Results(meta={"mode": "full", "settings": {"cluster_connections": 64}})
    edge = WRK_LATENCY_OUTPUT.replace("7109.67", "3000.00").replace("29.40ms", edge_p99)
    if timeout:
        edge += f"  Socket errors: connect 0, read 3, write 0, timeout {timeout}\n"
    rates = {
        (cluster_edge.CASE, cluster_edge.EDGE): edge,
        (cluster_edge.CASE, cluster_edge.LOCAL): WRK_LATENCY_OUTPUT,
        (cluster_scale.CASE, "1 replica"): WRK_LATENCY_OUTPUT.replace("7109.67", "100.00"),
        (cluster_scale.CASE, "2 replicas"): WRK_LATENCY_OUTPUT.replace("7109.67", "180.00"),
    }
    for _ in range(2):  # two rounds each
        for (case, server), text in rates.items():
            cluster_base.record(r, case, server, OURS, wrk.parse(text))
    return r


def test_cluster_targets_from_recorded_wrk_output():
    met = {t.name: t for t in cluster_targets(_cluster_results())}
    ratio_ = met["Cluster edge: nginx + 4 replicas / one local prefork (2 workers)"]
    assert ratio_.value == pytest.approx(3000 / 7109.67) and ratio_.verdict == "MISS"
    assert met["Cluster edge: p99 latency at 64 connections"].verdict == "PASS"  # 29.4 ms
    assert met["Cluster edge: wrk timeouts"].verdict == "PASS"
    scale = met["Cluster scale-out: 2 replicas / 1 replica (CPU-bound)"]
    assert scale.value == pytest.approx(1.8) and scale.verdict == "PASS"
    missed = {t.name: t for t in cluster_targets(_cluster_results("120.00ms", timeout=7))}
    assert missed["Cluster edge: p99 latency at 64 connections"].verdict == "MISS"
    timeouts = missed["Cluster edge: wrk timeouts"]
    assert (timeouts.value, timeouts.verdict) == (14, "MISS")  # summed over both rounds
    assert {t.verdict for t in cluster_targets(Results())} == {"N/A"}


def test_cluster_tables_show_rate_latency_and_errors():
    text = markdown(_cluster_results("120.00ms", timeout=7), [])
    assert "## Cluster edge: nginx + 4 replicas" in text and "## Cluster scale-out" in text
    # server | configuration | req/s | min-max | x local | p50 | p99 | timeouts | other errors
    assert "| nginx + 4 replicas |  | 3,000 | 3,000-3,000 | 0.42x | 8.3 | 120.0 | 14 | 6 |" in text
    assert "| 2 replicas |  | 180 | 180-180 | 1.80x | 8.3 | 29.4 | 0 | 0 |" in text
    assert "| **MISS** |" in text and "(64 connections in the cluster suite)" in text


def test_cluster_override_scales_one_service_under_a_cpu_quota(tmp_path):
    ctx = Context(QUICK, tmp_path, tmp_path)
    assert cluster_scale.write_override(ctx) is None
    conf = (tmp_path / "cluster-http.conf").read_text()
    upstream = conf[conf.index("upstream http_replicas") : conf.index("keepalive 32")]
    assert "server http-prefork:8080" in upstream and "http-fork" not in upstream
    override = (tmp_path / "cluster-override.yaml").read_text()
    assert f"cpus: '{cluster_scale.CPUS}'" in override and "SERVER_HANDLERS" in override
    assert f"{cluster_scale.HANDLERS}:/srv/handlers:ro" in override


def _work_handler():
    spec = importlib.util.spec_from_file_location("work", cluster_scale.HANDLERS / "work.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.handle


def test_cpu_handler_does_the_rounds_asked_and_refuses_bad_counts():
    handle = _work_handler()
    assert handle(SimpleNamespace(args={"n": "3"})) == "3 rounds: 5\n"  # 0 + 1 + 4
    assert handle(SimpleNamespace(args={})).startswith("50000 rounds: ")
    for bad in ("0", "-1", "x", "10000001"):
        with pytest.raises(BadRequest):
            handle(SimpleNamespace(args={"n": bad}))


def test_the_https_case_runs_who_speaks_tls_with_one_certificate(tmp_path):
    by_name = {spec.name: spec for spec in httpbench.specs()}
    https = {name for name, spec in by_name.items() if httpbench.serves(spec, "hello-tls")}
    assert {"gunicorn-gthread", "granian", "nginx", "epoll", "prefork"} <= https
    assert not {"waitress", "http.server", "bjoern"} & https  # no TLS of their own
    assert all(httpbench.serves(spec, "hello") for spec in by_name.values())
    ctx = Context(QUICK, tmp_path, tmp_path)
    launch = Launch(ctx, "hello-tls", 8443)
    ours = by_name["epoll"].argv(launch)
    cert = ours[ours.index("--certfile") + 1]
    assert cert in by_name["gunicorn-gthread"].argv(launch)
    assert cert in by_name["granian"].argv(launch)
    assert "BEGIN CERTIFICATE" in Path(cert).read_text()
    assert "--certfile" not in by_name["epoll"].argv(Launch(ctx, "hello", 8080))
    conf = confs.nginx(tmp_path, 8443, tmp_path, tls=tls.certificate(tmp_path))
    assert "listen 127.0.0.1:8443 ssl;" in conf.read_text() and cert in conf.read_text()
    assert httpbench.url_scheme("hello-tls") == "https"
    with pytest.raises(ValueError):
        wrk.run("https://192.0.2.1/", 1, 1, 1)


def test_the_ftps_case_runs_everyone_with_one_certificate_and_tls_required(tmp_path):
    by_name = {spec.name: spec for spec in ftpbench.specs()}
    ctx = Context(QUICK, tmp_path, tmp_path, progress=Progress())
    ctx.ftp_root.mkdir()
    (ctx.ftp_root / SMALL_FTP_FILE).write_bytes(b"x" * 1024)
    launch = Launch(ctx, "ftps", free_port(), (44100, 44199))
    ours = by_name["epoll"].argv(launch)
    cert, key = ours[ours.index("--certfile") + 1], ours[ours.index("--keyfile") + 1]
    assert "--tls-required" in ours
    assert by_name["pyftpdlib"].argv(launch)[-2:] == [cert, key]
    conf = Path(by_name["vsftpd"].argv(launch)[-1]).read_text()
    assert "ssl_enable=YES" in conf and f"rsa_cert_file={cert}" in conf
    assert "force_anon_data_ssl=YES" in conf and "require_ssl_reuse=NO" in conf
    clear = Launch(ctx, "ftp", 2121, (44100, 44199))
    assert "--certfile" not in by_name["epoll"].argv(clear)
    assert by_name["pyftpdlib"].argv(clear)[-1] == "44100-44199"
    assert "ssl_enable" not in Path(by_name["vsftpd"].argv(clear)[-1]).read_text()
    with Proc("epoll", ours, tmp_path / "ftps.log", port=launch.port) as proc:
        assert ftpbench.check(ctx, proc, "retr-tls") is None
        assert ftpclient.tls_session(proc.port, SMALL_FTP_FILE).startswith("TLSv1.3 ")
        assert ftpclient.retr_tls_rate(proc.port, SMALL_FTP_FILE, 1024) > 0
        with pytest.raises(ftpclient.FTPError):
            ftpclient.retr_tls_rate(proc.port, SMALL_FTP_FILE, 5)
        assert "check failed" in ftpbench.check(ctx, proc, "retr")  # clear text refused


def test_ftps_retr_has_its_target_against_vsftpd():
    r = _results()
    r.figures += [
        _fig("epoll", OURS, [300], suite="ftp", case="retr-tls", unit="MiB/s"),
        _fig("vsftpd", PEER, [400], suite="ftp", case="retr-tls", unit="MiB/s"),
    ]
    ftps = next(t for t in all_targets(r) if t.name.startswith("FTPS RETR"))
    assert ftps.value == pytest.approx(0.75) and ftps.verdict == "MISS"
    assert "## FTPS RETR of one big file" in markdown(r, [])
