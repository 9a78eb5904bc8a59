"""What the models declare (server/models/options.py) and who reads it: Settings, the CLI's
flags, the metric rows and the WSGI flags -- all from the registry."""

from __future__ import annotations

import pytest

from server.cli import build_parser
from server.config import Settings
from server.errors import ConfigError, ModelUnavailable
from server.models import MODELS, model_facts, model_options


@pytest.mark.parametrize(
    ("settings", "processes"),
    [
        # The rows api.serve asked for before the models described themselves (2 + these).
        (dict(model="epoll"), 1),
        (dict(model="fork", max_children=10), 11),
        (dict(model="prefork", workers=3), 2 * 3 + 8),
        (dict(model="prefork", workers=3, worker_model="fork", max_children=10), 14 * 11),
    ],
)
def test_processes_that_may_count_at_once(settings, processes):
    assert model_facts(Settings(**settings)).processes == processes


@pytest.mark.parametrize(
    ("settings", "multithread", "multiprocess"),
    [
        (dict(model="iterative"), False, False),
        (dict(model="epoll"), False, False),
        (dict(model="hybrid"), True, False),
        (dict(model="thread"), True, False),
        (dict(model="threadpool"), True, False),
        (dict(model="fork"), False, True),
        (dict(model="prefork"), False, True),
        (dict(model="prefork", worker_model="threadpool"), True, True),
    ],
)
def test_wsgi_flags(settings, multithread, multiprocess):
    facts = model_facts(Settings(**settings))
    assert (facts.multithread, facts.multiprocess) == (multithread, multiprocess)


def test_prefork_names_its_inner_model_and_refuses_itself():
    assert model_facts(Settings(model="prefork", worker_model="thread")).worker_model == "thread"
    assert model_facts(Settings(model="fork")).worker_model == ""
    with pytest.raises(ModelUnavailable, match="cannot be prefork"):
        model_facts(Settings(model="prefork", worker_model="prefork"))


def test_settings_carry_every_models_options_with_their_defaults():
    settings = Settings(threads=3)
    for name, option in model_options().items():
        assert getattr(settings, name) == (3 if name == "threads" else option.default)
    assert set(model_options()) <= set(Settings.names())


def test_settings_refuse_what_no_model_declares():
    with pytest.raises(TypeError, match="'lanes'"):
        Settings(lanes=2)
    with pytest.raises(AttributeError, match="'lanes'"):
        _ = Settings().lanes


@pytest.mark.parametrize(
    "option", [o for o in model_options().values() if o.minimum is not None], ids=lambda o: o.name
)
def test_each_minimum_is_enforced_with_the_flag_named(option):
    with pytest.raises(ConfigError, match=option.flag):
        Settings(**{option.name: option.minimum - 1}).validate()


def test_every_option_is_a_flag_with_an_environment_twin(monkeypatch):
    monkeypatch.setenv("SERVER_MAX_CHILDREN", "7")
    args = build_parser("echo").parse_args(["echo", "--threads", "5"])
    assert (args.threads, args.max_children) == (5, 7)
    for name in model_options():
        assert hasattr(args, name)


def test_worker_model_choices_are_the_models_that_fit_in_prefork():
    parser = build_parser("echo")
    with pytest.raises(SystemExit):
        parser.parse_args(["echo", "--worker-model", "prefork"])
    fits = [name for name, cls in MODELS.items() if cls.fits_in_prefork]
    assert parser.parse_args(["echo", "--worker-model", fits[-1]]).worker_model == fits[-1]
