"""`python -m server handler --handler module:Class`: a socketserver handler under our models."""

from __future__ import annotations

import socketserver

from ..errors import ConfigError
from ..models import ThreadPerRequest
from ..service import SocketServerService
from .base import Command, add_option, load_object


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
    default_model=ThreadPerRequest.name,
    default_bind="127.0.0.1:7000",
    add_arguments=_arguments,
    build=_build,
    datagram=True,
    proxy_protocol=False,  # a socketserver handler reads the socket itself
)
