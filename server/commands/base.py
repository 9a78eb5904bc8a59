"""What a command is, and the helpers every command module uses to declare its flags.

The commands import this module, never `cli` (which imports the commands): the composition
root points one way. Command and Tool are NamedTuples, and config (a dataclass) loads only to
serve: the probe runs in every container every few seconds, and `dataclasses` alone was 79 of
its 126 ms of imports.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..config import Settings
    from ..net.sockets import Listener
    from ..service import Service

ENV_PREFIX = "SERVER_"


class Command(NamedTuple):
    """A service the CLI can run under any model."""

    default_model: str
    default_bind: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    #: Builds the service once the listener is bound (socketserver handlers need the socket).
    build: Callable[[argparse.Namespace, Settings, Listener], Service]
    datagram: bool = False  # offers --udp
    proxy_protocol: bool = True  # offers --proxy-protocol (its streams run our protocols)
    tls: bool = False  # offers --certfile and --keyfile


class Tool(NamedTuple):
    """A command that is not a service (probe, ftp-user, models)."""

    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def env_name(flag: str) -> str:
    return ENV_PREFIX + flag.lstrip("-").upper().replace("-", "_")


def add_option(parser, flag: str, *, type: Callable = str, default: Any = None, **kwargs) -> None:
    """Add `--flag`, defaulting to its environment twin SERVER_FLAG when that is set."""
    env = env_name(flag)
    kwargs["help"] = f"{kwargs.get('help', '')} [env {env}]".strip()
    if kwargs.get("action") == "store_true":
        raw = os.environ.get(env)
        default = raw.lower() in ("1", "true", "yes", "on") if raw is not None else False
        parser.add_argument(flag, default=default, **kwargs)
        return
    if env in os.environ:
        try:
            default = type(os.environ[env])
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{env}={os.environ[env]!r}: {exc}") from None
    parser.add_argument(flag, type=type, default=default, **kwargs)


def load_object(spec: str, what: str, fresh: bool = False):
    """Import `module:attribute` (the current directory is importable, as for `python -m`);
    `fresh`: run the module's file again even if it was imported before."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ConfigError(f"{what} {spec!r}: expected module:attribute")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
        if fresh:
            module = importlib.reload(module)
    except Exception as exc:
        raise ConfigError(f"{what} {spec!r}: cannot import {module_name}: {exc}") from None
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise ConfigError(f"{what} {spec!r}: {module_name} has no {attribute!r}") from None
