"""A new model is one file and one registry line: a throwaway one, written here, runs the echo
suite, with a flag of its own, and nothing else in the server changes (docs/design.md)."""

from __future__ import annotations

import pytest
import test_echo

# The one file: a model that serves on the main loop, at most --lanes clients at once.
MODEL = """
from server.models import Model, Option


class Lanes(Model):
    name = "lanes"
    summary = "the main loop, at most --lanes clients at once (a test's throwaway model)"
    options = (Option("lanes", int, 4, "lanes: clients served at once", minimum=1),)
    runs_blocking = False

    def capacity(self):
        return self.settings.lanes

    def process_request(self, request, addr):
        self.serve_here(request, addr)
"""

# The one registry line, then the real command line.
LAUNCHER = """
import sys
from server import cli
from server.models import MODELS
from lanes import Lanes

MODELS[Lanes.name] = Lanes
sys.exit(cli.main())
"""


@pytest.fixture
def lanes_factory(server_factory, tmp_path):
    """server_factory, but the server runs with the throwaway model registered."""
    (tmp_path / "lanes.py").write_text(MODEL)
    (tmp_path / "launch.py").write_text(LAUNCHER)

    def start(service, model, **kwargs):
        args = kwargs.pop("args", [])
        args = args if "--lanes" in args else [*args, "--lanes", "3"]  # fewer than the clients
        return server_factory(
            service, model, entry=[str(tmp_path / "launch.py")], args=args, **kwargs
        )

    return start


@pytest.mark.parametrize("transport", ["tcp4", "tcp6", "unix"])
def test_stream_echo(lanes_factory, tmp_path, transport):
    test_echo.test_stream_echo(lanes_factory, tmp_path, "lanes", transport)


def test_large_payload_is_echoed_intact(lanes_factory, tmp_path):
    test_echo.test_large_payload_is_echoed_intact(lanes_factory, tmp_path, "lanes")


@pytest.mark.parametrize("transport", ["udp4", "udp6", "unixdgram"])
def test_datagram_echo(lanes_factory, tmp_path, transport):
    test_echo.test_datagram_echo(lanes_factory, tmp_path, "lanes", transport)


def test_its_flag_is_validated(lanes_factory):
    with pytest.raises(RuntimeError, match="--lanes must be at least 1"):
        lanes_factory("echo", "lanes", args=["--lanes", "0"])


def test_it_runs_inside_prefork(lanes_factory, tmp_path):
    test_echo.test_stream_echo(
        lambda service, model, **kw: lanes_factory(
            service, model, **{**kw, "args": [*kw.get("args", []), "--worker-model", "lanes"]}
        ),
        tmp_path,
        "prefork",
        "tcp4",
    )
