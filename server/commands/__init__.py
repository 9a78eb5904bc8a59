"""The services the CLI runs, one module each, plus the helper commands (probe, ...)."""

from __future__ import annotations

from .echo import ECHO
from .ftp import FTP, FTP_USER
from .handler import HANDLER
from .http import HTTP
from .probe import PROBE

COMMANDS = [ECHO, HANDLER, HTTP, FTP]


def extra_commands() -> list:
    """(name, help, add_arguments, run) for commands that are not services."""
    return [PROBE, FTP_USER]
