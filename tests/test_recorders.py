"""server/recorders.py: both bodies of a shape -- under the lock, and alone -- count alike."""

import pytest

from server.metrics import Metrics
from server.recorders import alone_code, generate


def make() -> Metrics:
    m = Metrics()
    m.counter("requests_total", "Requests.", label="code", values=("200", "404"))
    m.histogram("latency_seconds", "Latency.", bounds=(0.01, 0.1), by="requests_total")
    m.counter("bytes_total", "Bytes.")
    m.histogram("plain_seconds", "Latency, not split.", bounds=(1.0,))
    m.freeze(rows=4)
    return m


def record_a_few(m: Metrics, histogram: str, alone: bool) -> list[str]:
    """Three events through one shape's body; what the registry renders then."""
    places = m.histogram_places(histogram)
    record = generate(1, places, m)
    if alone:
        record.__code__ = alone_code(1, places, m)
    split = (m.place("requests_total", "200"),) if places.by_first is not None else ()
    for value in (0.005, 0.05, 5.0):
        record(value, *split, m.place("bytes_total"), 100)
    return [line for line in m.render().splitlines() if not line.startswith("server_")]


@pytest.mark.parametrize("histogram", ["latency_seconds", "plain_seconds"])
def test_both_bodies_count_alike(histogram):
    locked, alone = record_a_few(make(), histogram, False), record_a_few(make(), histogram, True)
    assert locked == alone
    assert "bytes_total 300" in alone and f"{histogram}_count 3" in alone
