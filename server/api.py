"""The library API: run any service under any model, as the CLI does.

from server.api import serve
from server.config import Settings
from server.service import ProtocolService

service = ProtocolService("mine", stream=lambda loop: MyProtocol())
serve(service, Settings(model="thread", bind=":9000"))

`stream` makes each connection's protocol, given its loop (a protocol's Scheduler: timers).
"""

from __future__ import annotations

from collections.abc import Callable

from .config import Settings
from .errors import ConfigError
from .metrics import METRICS
from .models import model_class
from .models.side import SideListener
from .net.address import parse_address
from .net.sockets import Listener, open_listener
from .protocols.metrics import MetricsProtocol
from .service import ProtocolService, Service

#: Seconds a metrics scrape may take to send its request.
METRICS_TIMEOUT = 10.0


def serve(service: Service | Callable[[Listener], Service], settings: Settings) -> int:
    """Bind, build the service (a callable gets the bound listener) and run the model.

    Returns the exit status when the server stops (SIGTERM, SIGINT, SIGQUIT). Raises
    ConfigError (and its subclasses BindError, ModelUnavailable) before serving anything.
    """
    settings.validate()
    model_cls = model_class(settings.model)
    listener = model_cls.bind(settings)
    side = None
    try:
        side = _metrics_listener(settings)  # after --bind: a clash names --metrics-listen
        if not isinstance(service, Service):
            service = service(listener)
        if settings.proxy_protocol and service.proxy is None:
            raise ConfigError(f"--proxy-protocol: the {service.name} service reads no PROXY header")
        model = model_cls(service, listener, settings)
    except BaseException:
        listener.close()
        if side is not None:
            side.close()
        raise
    model.side = side
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


def _metrics_listener(settings: Settings) -> SideListener | None:
    """The --metrics-listen socket, bound now so a bad or busy address fails at start."""
    if not settings.metrics_listen:
        return None
    address = parse_address(settings.metrics_listen)
    service = ProtocolService(
        "metrics", stream=lambda loop: MetricsProtocol(), idle_timeout=METRICS_TIMEOUT
    )
    return SideListener(open_listener(address, backlog=16), service)
