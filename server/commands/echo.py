"""`python -m server echo`: echo over TCP, UDP and Unix sockets."""

from __future__ import annotations

from ..models import Epoll
from ..protocols.echo import EchoDatagramProtocol, EchoProtocol
from ..service import ProtocolService, proxy_policy
from .base import Command


def _build(args, settings, listener) -> ProtocolService:
    return ProtocolService(
        "echo",
        stream=lambda loop: EchoProtocol(),
        datagram=EchoDatagramProtocol,
        idle_timeout=settings.timeout or None,
        proxy=proxy_policy(settings),
    )


ECHO = Command(
    default_model=Epoll.name,
    default_bind="127.0.0.1:7000",
    add_arguments=lambda parser: None,
    build=_build,
    datagram=True,
)
