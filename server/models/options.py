"""What a model tells the rest of the server about itself: its flags and its facts.

Each model class lists the `Option`s it reads (the CLI turns them into flags with environment
twins, `Settings` into validated values) and answers `facts(settings)`: how many processes may
count metrics at once, what WSGI's multithread/multiprocess should say, whether a blocking
handler can run. The CLI, the API, the WSGI adapter and the tests ask the registry, so a new
model is its own file and one registry line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple


class Option(NamedTuple):
    """A setting a model reads: `--flag-name` on the command line, SERVER_FLAG_NAME in env."""

    name: str  # the Settings attribute, e.g. "max_children"
    type: Callable[[str], Any]
    default: Any
    help: str
    minimum: int | None = None  # validated by Settings
    #: The allowed values, computed when asked (the registry is complete by then).
    choices: Callable[[], list[str]] | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


class Facts(NamedTuple):
    """What a model will be with given settings (prefork answers with its inner model)."""

    processes: int  # most processes that may serve (and count metrics) at once
    multithread: bool  # WSGI: the application may run on several threads at once
    multiprocess: bool  # WSGI: ... in several processes at once
    runs_blocking: bool  # each request gets a thread or process: a blocking handler may run
    worker_model: str = ""  # the inner model's name, for a model that runs another
