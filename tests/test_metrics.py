import os
import threading

import pytest

from server.metrics import Metrics
from server.models.fork import Fork
from server.models.hybrid import Hybrid
from server.models.iterative import Iterative
from server.models.multiplex import Epoll, Poll, Select
from server.models.thread import ThreadPerRequest, ThreadPool


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


def test_by_process_gives_each_live_process_its_own_totals():
    m = make()
    m.add("requests_total", label="200")
    counted, done = os.pipe(), os.pipe()
    pid = os.fork()
    if pid == 0:
        m.add("requests_total", 2, label="404")
        m.add("requests_total", 3, label="200")
        os.write(counted[1], b"x")  # stays alive until the parent has read
        os.read(done[0], 1)
        os._exit(0)
    assert os.read(counted[0], 1) == b"x"
    assert m.by_process("requests_total", "open") == {
        os.getpid(): {"requests_total": 1, "open": 0},
        pid: {"requests_total": 5, "open": 0},
    }
    os.write(done[1], b"x")
    os.waitpid(pid, 0)
    for fd in (*counted, *done):
        os.close(fd)
    assert m.by_process("requests_total") == {os.getpid(): {"requests_total": 1}}  # dead: gone


def test_render_is_prometheus_text():
    m = make()
    m.add("requests_total", label="404")
    text = m.render()
    assert 'server_info{service="test"} 1' in text
    assert "# TYPE requests_total counter" in text
    assert 'requests_total{code="404"} 1' in text
    assert "# TYPE open gauge" in text
    assert "server_uptime_seconds " in text


def make_histogram() -> Metrics:
    m = Metrics()
    m.histogram("latency_seconds", "Latency.", bounds=(0.1, 0.01, 1))
    m.freeze(rows=8)
    return m


def histogram_lines(m: Metrics) -> list[str]:
    return [line for line in m.render().splitlines() if line.startswith("latency_seconds")]


def test_histogram_renders_cumulative_buckets_sum_and_count():
    m = make_histogram()
    for value in (0.005, 0.01, 0.05, 0.5, 3.0):  # 0.01 is on a bound: le counts it
        m.observe("latency_seconds", value)
    assert "# TYPE latency_seconds histogram" in m.render()
    assert histogram_lines(m) == [
        'latency_seconds_bucket{le="0.01"} 2',
        'latency_seconds_bucket{le="0.1"} 3',
        'latency_seconds_bucket{le="1.0"} 4',
        'latency_seconds_bucket{le="+Inf"} 5',
        "latency_seconds_sum 3.565000",
        "latency_seconds_count 5",
    ]


def test_histogram_adds_up_over_processes_dead_ones_too():
    m = make_histogram()
    m.observe("latency_seconds", 0.2)
    for _ in range(12):  # more processes than rows: the dead ones' rows are folded and reused
        pid = os.fork()
        if pid == 0:
            m.observe("latency_seconds", 0.002)
            os._exit(0)
        os.waitpid(pid, 0)
    lines = histogram_lines(m)
    assert 'latency_seconds_bucket{le="0.01"} 12' in lines
    assert 'latency_seconds_bucket{le="+Inf"} 13' in lines
    assert "latency_seconds_sum 0.224000" in lines and "latency_seconds_count 13" in lines


def test_histogram_bounds_must_be_distinct():
    m = Metrics()
    for bounds in ((), (0.1, 0.1)):
        with pytest.raises(ValueError, match="distinct"):
            m.histogram("bad_seconds", "Bad.", bounds)


def test_a_metric_with_several_labels_renders_each_pair():
    m = Metrics()
    values = [f"{d},{o}" for d in ("up", "down") for o in ("ok", "failed")]
    m.counter("moves_total", "Moves.", label="direction,outcome", values=values)
    m.freeze(rows=4)
    m.add("moves_total", 2, label="down,failed")
    text = m.render()
    assert 'moves_total{direction="down",outcome="failed"} 2' in text
    assert 'moves_total{direction="up",outcome="ok"} 0' in text


def test_a_recorder_observes_and_adds_in_one_call():
    m = Metrics()
    m.histogram("latency_seconds", "Latency.", bounds=(0.1, 0.01, 1))
    m.counter("requests_total", "Requests.", label="code", values=("200", "404"))
    m.freeze(rows=8)
    record = m.recorder(2, m.histogram_places("latency_seconds"))
    assert m.recorder(2, m.histogram_places("latency_seconds")) is record  # made once
    for value in (0.005, 0.01, 0.5, 3.0):  # first bucket, on a bound, bisected, +Inf
        record(value, m.place("requests_total", "200"), 1, m.place("requests_total", "404"), 2)
    assert histogram_lines(m) == [
        'latency_seconds_bucket{le="0.01"} 2',
        'latency_seconds_bucket{le="0.1"} 2',
        'latency_seconds_bucket{le="1.0"} 3',
        'latency_seconds_bucket{le="+Inf"} 4',
        "latency_seconds_sum 3.515000",
        "latency_seconds_count 4",
    ]
    assert m.value("requests_total", "200") == 4 and m.value("requests_total", "404") == 8


def test_a_recorder_made_before_freeze_counts_after_it_and_not_before():
    m = Metrics()
    m.counter("hits_total", "Hits.")
    add = m.recorder(1)
    add(m.place("hits_total"), 5)  # nothing to count into yet: ignored, as add() is
    m.freeze(rows=4)
    add(m.place("hits_total"), 2)
    m.add_at(m.place("hits_total"), 1)  # the same shape: the same function
    assert m.value("hits_total") == 3 and m.recorder(1) is add


def test_a_histogram_sum_keeps_what_is_under_a_microsecond():
    m = make_histogram()
    for _ in range(1000):  # each under a microsecond: whole microseconds would sum to 0
        m.observe("latency_seconds", 0.0000004)
    assert "latency_seconds_sum 0.000400" in histogram_lines(m)


def make_split() -> Metrics:
    """A status counter and a latency histogram split by it: one add counts both."""
    m = Metrics()
    m.counter("requests_total", "Requests.", label="code", values=("200", "404", "other"))
    m.histogram("latency_seconds", "Latency.", bounds=(0.01, 0.1), by="requests_total")
    m.freeze(rows=8)
    return m


def test_a_split_histogram_counts_its_counter_too():
    m = make_split()
    record = m.recorder(0, m.histogram_places("latency_seconds"))
    for value, code in ((0.005, "200"), (0.05, "200"), (0.5, "404"), (0.001, "404")):
        record(value, m.place("requests_total", code))
    m.observe("latency_seconds", 0.02, label="other")
    m.add("requests_total", label="404")  # counted without a latency (a refused request)
    assert histogram_lines(m) == [
        'latency_seconds_bucket{le="0.01"} 2',
        'latency_seconds_bucket{le="0.1"} 4',
        'latency_seconds_bucket{le="+Inf"} 5',
        "latency_seconds_sum 0.576000",
        "latency_seconds_count 5",
    ]
    text = m.render()
    for line in ('{code="200"} 2', '{code="404"} 3', '{code="other"} 1'):
        assert f"requests_total{line}" in text
    assert m.value("requests_total", "404") == 3
    assert m.by_process("requests_total") == {os.getpid(): {"requests_total": 6}}


def test_a_split_histogram_adds_up_over_dead_processes():
    m = make_split()
    for _ in range(12):  # more processes than rows: each dead row is folded, buckets and all
        pid = os.fork()
        if pid == 0:
            m.observe("latency_seconds", 0.05, label="200")
            os._exit(0)
        os.waitpid(pid, 0)
    assert m.value("requests_total", "200") == 12
    assert 'latency_seconds_bucket{le="0.1"} 12' in histogram_lines(m)
    assert "latency_seconds_sum 0.600000" in histogram_lines(m)


@pytest.mark.parametrize("by", ["missing_total", "open"])
def test_a_histogram_is_split_only_by_a_counter_defined_before_it(by):
    m = Metrics()
    m.gauge("open", "Open now.")
    with pytest.raises(ValueError, match=f"{by} is not a counter"):
        m.histogram("latency_seconds", "Latency.", bounds=(0.1,), by=by)


def test_a_gauge_less_a_histogram_counts_what_started_and_has_not_ended():
    m = Metrics()
    m.counter("requests_total", "Requests.", label="code", values=("200", "other"))
    m.histogram("latency_seconds", "Latency.", bounds=(0.1,), by="requests_total")
    m.gauge("in_flight", "Requests being handled now.", less="latency_seconds")
    m.freeze(rows=8)
    start = m.recorder(1)
    for _ in range(3):
        start(m.place("in_flight"), 1)
    m.observe("latency_seconds", 0.01, label="200")  # one of them ends
    assert m.value("in_flight") == 2 and "in_flight 2" in m.render()
    pid = os.fork()
    if pid == 0:  # a process that dies with one started and none ended
        start(m.place("in_flight"), 1)
        os._exit(0)
    os.waitpid(pid, 0)
    assert m.value("in_flight") == 2  # a gauge: the dead process's part went with it
    assert m.value("requests_total", "200") == 1


class CountingLock:
    """A thread lock that counts how often it is taken."""

    def __init__(self) -> None:
        self.lock, self.taken = threading.Lock(), 0

    def acquire(self) -> bool:
        self.taken += 1
        return self.lock.acquire()

    def release(self) -> None:
        self.lock.release()

    __enter__ = acquire

    def __exit__(self, *exc) -> None:
        self.release()


def test_request_recorders_skip_the_lock_only_while_one_model_serves_from_one_thread():
    m = make()
    m._lock = lock = CountingLock()
    request, shared, place = m.recorder(1, requests=True), m.recorder(1), m.place("open")
    steps = [  # (who serves now, whether a request recorder takes the lock)
        ({}, True),  # nobody (a test, a library user's own threads): locked
        ({"epoll": True}, False),
        ({"epoll": True, "second": True}, True),  # two in one process: their threads differ
        ({"epoll": True}, False),
        ({"threadpool": False}, True),
    ]
    for serving, locks in steps:
        for model in list(m._serving):
            m.served(model)
        for model, one_thread in serving.items():
            m.serving(model, one_thread)
        taken = lock.taken
        request(place, 1)
        assert lock.taken == taken + locks, serving
        shared(place, 1)  # any thread may call it: always locked
        assert lock.taken == taken + locks + 1
    assert m.value("open") == 2 * len(steps)


def test_a_request_recorder_made_while_one_thread_serves_skips_the_lock_too():
    m = make_split()
    m._lock = lock = CountingLock()
    m.serving("epoll", one_thread=True)
    record = m.recorder(0, m.histogram_places("latency_seconds"), requests=True)
    record(0.05, m.place("requests_total", "200"))  # claims the row: under the lock
    record(0.5, m.place("requests_total", "404"))
    assert lock.taken == 1
    m.served("epoll")
    record(0.5, m.place("requests_total", "404"))
    assert lock.taken == 2
    assert m.value("requests_total", "200") == 1 and m.value("requests_total", "404") == 2


def test_only_models_that_serve_connections_from_one_thread_say_so():
    """A model that says so wrongly would lose counts only now and then, so it is checked
    here: threads each serving their own connections must count under the lock."""
    assert not ThreadPerRequest.connections_on_one_thread
    assert not ThreadPool.connections_on_one_thread
    for model in (Iterative, Select, Poll, Epoll, Hybrid, Fork):  # the loop; a fork child
        assert model.connections_on_one_thread, model.name
