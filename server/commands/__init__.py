"""The services the CLI runs, one module each, plus the helper commands (probe, ...)."""

from __future__ import annotations

from .echo import ECHO
from .handler import HANDLER
from .http import HTTP
from .probe import PROBE

COMMANDS = [ECHO, HANDLER, HTTP]


def extra_commands() -> list:
    """(name, help, add_arguments, run) for commands that are not services."""
    return [PROBE]
