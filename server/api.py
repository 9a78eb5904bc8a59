"""The library API: run any service under any model, as the CLI does.

from server.api import serve
from server.config import Settings
from server.service import ProtocolService

serve(ProtocolService("mine", stream=MyProtocol), Settings(model="thread", bind=":9000"))
"""

from __future__ import annotations

from collections.abc import Callable

from .config import Settings
from .errors import ConfigError
from .metrics import METRICS
from .models import model_class
from .net.address import parse_address
from .net.sockets import Listener, open_listener
from .service import Service


def serve(service: Service | Callable[[Listener], Service], settings: Settings) -> int:
    """Bind, build the service (a callable gets the bound listener) and run the model.

    Returns the exit status when the server stops (SIGTERM, SIGINT, SIGQUIT). Raises
    ConfigError (and its subclasses BindError, ModelUnavailable) before serving anything.
    """
    settings.validate()
    model_cls = model_class(settings.model)
    listener = open_listener(
        parse_address(settings.bind), datagram=settings.udp, backlog=settings.backlog
    )
    try:
        if not isinstance(service, Service):
            service = service(listener)
        if settings.proxy_protocol and service.proxy is None:
            raise ConfigError(f"--proxy-protocol: the {service.name} service reads no PROXY header")
        model = model_cls(service, listener, settings)
    except BaseException:
        listener.close()
        raise
    facts = model_cls.facts(settings)
    METRICS.freeze(
        # A row for every process that may count at once (forked children included), and two
        # more: the archive of the dead ones' counts, and this process before it serves.
        rows=2 + facts.processes,
        service=service.name,
        model=model.name,
        worker_model=facts.worker_model,
    )
    return model.serve()
