"""`python -m server handler --handler module:Class`: a socketserver handler under our models."""

from __future__ import annotations

import importlib
import os
import socketserver
import sys

from ..cli import Command, add_option
from ..errors import ConfigError
from ..service import SocketServerService


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


def _build(args, settings, listener) -> SocketServerService:
    if not args.handler:
        raise ConfigError("--handler module:Class is required")
    handler = load_object(args.handler, "--handler")
    if not (isinstance(handler, type) and issubclass(handler, socketserver.BaseRequestHandler)):
        raise ConfigError(f"--handler {args.handler!r} is not a socketserver.BaseRequestHandler")
    return SocketServerService(handler, listener.sock, settings.timeout or None)


def _arguments(parser) -> None:
    add_option(parser, "--handler", help="module:Class, a socketserver.BaseRequestHandler subclass")


HANDLER = Command(
    default_model="thread",
    default_bind="127.0.0.1:7000",
    add_arguments=_arguments,
    build=_build,
    datagram=True,
    proxy_protocol=False,  # a socketserver handler reads the socket itself
)
