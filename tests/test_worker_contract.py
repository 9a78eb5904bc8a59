"""The master-worker contract (models/worker.py): the shared heartbeat and the duties."""

from __future__ import annotations

import os

import pytest

from server.config import Settings
from server.errors import ConfigError
from server.models.worker import LEAVING, NOT_READY, Duties, Heart, beat_interval
from server.service import Service


def test_a_beat_in_the_child_is_seen_by_the_parent():
    heart = Heart()
    try:
        assert heart.last() == NOT_READY
        pid = os.fork()
        if pid == 0:
            heart.beat(123.5)
            os._exit(0)
        os.waitpid(pid, 0)
        assert heart.last() == 123.5
    finally:
        heart.close()


class FakeLoop:
    def __init__(self):
        self.soon, self.later = [], []

    def call_soon_threadsafe(self, fn, *args):
        self.soon.append(fn)

    def call_later(self, delay, fn, *args):
        self.later.append(delay)


class FakeModel:
    serves_in_children = False

    def __init__(self, service, stuck=0.0):
        self.service, self.loop, self.stuck, self.terms = service, FakeLoop(), stuck, 0

    def stuck_for(self):
        return self.stuck

    def handle_term(self):
        self.terms += 1


class Counting(Service):
    def count_requests(self, served):
        self.served = served
        return True


def test_the_nth_request_drains_the_worker_and_says_it_is_leaving():
    heart, service = Heart(), Counting()
    model = FakeModel(service)
    duties = Duties(heart, 0, 3, 0)
    duties.start(model)
    assert heart.last() > 0 and model.loop.later == [1.0]  # ready, and beating every second
    for _ in range(3):
        service.served()
    duties.connection_ended()  # the service counts requests: connections do not count
    assert len(model.loop.soon) == 1
    model.loop.soon[0]()
    assert model.terms == 1 and heart.last() == LEAVING
    heart.close()


def test_with_a_socket_of_its_own_it_serves_on_saying_leaving_until_told():
    """--reuse-port: the master sends TERM once the replacement is ready; until then the
    worker keeps its socket open (and keeps saying LEAVING: a beat must not overwrite it)."""
    heart, service = Heart(), Counting()
    model = FakeModel(service)
    duties = Duties(heart, 0, 1, 0, waits_for_replacement=True)
    duties.start(model)
    service.served()
    model.loop.soon[0]()
    assert model.terms == 0 and heart.last() == LEAVING
    duties._beat()
    assert heart.last() == LEAVING
    heart.close()


def test_without_request_counts_connections_count():
    heart = Heart()
    model = FakeModel(Service())
    duties = Duties(heart, 0, 2, 0)
    duties.start(model)
    duties.connection_ended()
    duties.connection_ended()
    assert len(model.loop.soon) == 1
    heart.close()


def test_a_stuck_application_stops_the_beat():
    heart = Heart()
    duties = Duties(heart, 2.0, 0, 0)
    duties.start(FakeModel(Service(), stuck=5.0))
    assert heart.last() == NOT_READY and beat_interval(2.0) == 0.5
    heart.close()


def test_jitter_is_added_per_worker():
    heart = Heart()
    limits = {Duties(heart, 0, 100, 20).max_requests for _ in range(200)}
    assert min(limits) >= 100 and max(limits) <= 120 and len(limits) > 1
    heart.close()


@pytest.mark.parametrize(
    ("field", "value"), [("worker_timeout", -1), ("max_requests", -1), ("max_requests_jitter", -1)]
)
def test_negative_settings_are_refused(field, value):
    with pytest.raises(ConfigError, match=field.replace("_", "-")):
        Settings(**{field: value}).validate()
