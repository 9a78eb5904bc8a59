import os

from server.metrics import Metrics


def make() -> Metrics:
    m = Metrics()
    m.counter("requests_total", "Requests.", label="code", values=("200", "404", "other"))
    m.gauge("open", "Open now.")
    m.freeze(rows=8, service="test")
    return m


def test_counts_in_one_process():
    m = make()
    m.add("requests_total", label="200")
    m.add("requests_total", 2, label="200")
    m.add("requests_total", label="418")  # unknown value: counted as other
    m.add("open")
    assert m.value("requests_total", "200") == 3
    assert m.value("requests_total", "other") == 1
    assert m.value("open") == 1


def test_counts_from_children_add_up_and_survive_them():
    m = make()
    m.add("requests_total", label="200")
    pids = []
    for _ in range(3):
        pid = os.fork()
        if pid == 0:
            m.add("requests_total", 10, label="404")
            m.add("open")
            os._exit(0)
        pids.append(pid)
    for pid in pids:
        os.waitpid(pid, 0)
    assert m.value("requests_total", "404") == 30  # counters outlive their process
    assert m.value("open") == 0  # gauges of dead processes do not count
    assert m.value("requests_total", "200") == 1


def test_rows_of_dead_processes_are_reused_and_folded():
    m = make()
    for _ in range(20):  # more processes than rows, one after another
        pid = os.fork()
        if pid == 0:
            m.add("requests_total", label="200")
            os._exit(0)
        os.waitpid(pid, 0)
    assert m.value("requests_total", "200") == 20


def test_render_is_prometheus_text():
    m = make()
    m.add("requests_total", label="404")
    text = m.render()
    assert 'server_info{service="test"} 1' in text
    assert "# TYPE requests_total counter" in text
    assert 'requests_total{code="404"} 1' in text
    assert "# TYPE open gauge" in text
    assert "server_uptime_seconds " in text
