"""`python -m server http`: HTTP/1.1 with static files, handler modules and a WSGI app.

The default model is prefork (with epoll workers): WSGI apps and handler modules run inline and
may block, so one process per core keeps every core busy and a crash costs one worker; HUP
starts fresh workers (new code) before the old ones drain, so nothing is refused.
"""

from __future__ import annotations

import functools

from ..errors import ConfigError
from ..fs import PathRefused
from ..metrics import METRICS
from ..models import Prefork, model_facts
from ..net.trusted import TrustedPeers
from ..protocols.http import HTTPConfig, HTTPService, Router
from ..protocols.http.accesslog import FORMATS, AccessLog
from ..protocols.http.modules import HandlerModules
from ..protocols.http.ops import Ops
from ..protocols.http.parser import Limits
from ..protocols.http.static import StaticFiles
from ..protocols.http.wsgi import WSGIApp
from ..service import proxy_policy, tls_policy
from .base import Command, add_option, load_object

_UNITS = {"k": 1024, "m": 1024**2, "g": 1024**3}


def byte_size(text: str) -> int:
    """'1048576', '512k', '10M', '1g' -> bytes."""
    text = text.strip().lower().removesuffix("b")
    scale = _UNITS.get(text[-1:], 1)
    number = text[:-1] if scale > 1 else text
    if not number.isdigit():
        raise ValueError(f"{text!r} is not a size (e.g. 1048576, 512k, 10M)")
    return int(number) * scale


def _build(args, settings, listener) -> HTTPService:
    for name in ("keepalive_timeout", "header_timeout"):
        if getattr(args, name) <= 0:
            raise ConfigError(f"--{name.replace('_', '-')} must be positive")
    if not (args.served_by.isascii() and args.served_by.isprintable()):
        raise ConfigError("--served-by must be printable ASCII (it becomes a header)")
    config = HTTPConfig(
        limits=Limits(max_body=args.max_body),
        keepalive_timeout=args.keepalive_timeout,
        header_timeout=args.header_timeout,
        served_by=args.served_by,
    )
    if args.served_by:
        METRICS.info["served_by"] = args.served_by
    load_app = _app_loader(args, settings, listener)
    router = Router(
        ops=Ops(args.ops_prefix, args.served_by) if args.ops_prefix else None,
        modules=_modules(args, settings, listener),
        static=_static(args),
        app=load_app() if load_app else None,
        access_log=(
            AccessLog(args.access_log, args.access_log_format, args.served_by)
            if args.access_log
            else None
        ),
        proxies=TrustedPeers(settings.forwarded_allow_ips),
    )
    return HTTPService(
        router,
        config,
        idle_timeout=settings.timeout or None,
        proxy=proxy_policy(settings),
        tls=tls_policy(settings, args.header_timeout),
        load_app=load_app,
    )


def _app_loader(args, settings, listener):
    """Loads --app: imported here, and from disk again in the workers a HUP starts."""
    if not args.app:
        return None
    wrap = _wsgi(settings, listener)
    return lambda fresh=False: wrap(load_object(args.app, "--app", fresh=fresh))


def _wsgi(settings, listener):
    address = listener.address
    facts = model_facts(settings)
    return functools.partial(
        WSGIApp,
        server_name=address.host or "localhost",
        server_port=str(address.port) if not address.is_unix else "",
        multithread=facts.multithread,
        multiprocess=facts.multiprocess,
    )


def _modules(args, settings, listener) -> HandlerModules | None:
    if not args.handlers:
        return None
    modules = HandlerModules(args.handlers, _wsgi(settings, listener))
    modules.reload_all()  # load now: errors show at start, and forked children inherit them
    return modules


def _static(args) -> StaticFiles | None:
    if not args.root:
        return None
    try:
        return StaticFiles(args.root, args.listing)
    except PathRefused as exc:
        raise ConfigError(f"--root: {exc}") from None


def _arguments(parser) -> None:
    http = parser.add_argument_group("http")
    add_option(http, "--root", help="serve static files from this folder")
    add_option(http, "--listing", action="store_true", help="list folders without index.html")
    add_option(http, "--handlers", help="folder of handler modules: NAME.py serves /NAME")
    add_option(http, "--app", help="a WSGI application, module:callable (cwd is importable)")
    add_option(http, "--max-body", type=byte_size, default=10 * 1024**2,
               help="largest request body (bytes, or 512k, 10M, 1G); larger gets 413")  # fmt: skip
    add_option(http, "--keepalive-timeout", type=float, default=5.0,
               help="seconds an idle keep-alive connection stays open")  # fmt: skip
    add_option(http, "--header-timeout", type=float, default=10.0,
               help="seconds a client has to finish sending a request head")  # fmt: skip
    add_option(http, "--ops-prefix", default="/-",
               help="path prefix of /health and /metrics; empty turns them off")  # fmt: skip
    add_option(http, "--access-log", default="",
               help="PATH to append an access log to, '-' for stdout; default: none")  # fmt: skip
    add_option(http, "--access-log-format", default="common", choices=FORMATS,
               help="common (Common Log Format) or json")  # fmt: skip
    add_option(http, "--served-by", default="",
               help="name this replica: X-Served-By header, health and metrics")  # fmt: skip


HTTP = Command(
    default_model=Prefork.name,
    default_bind="127.0.0.1:8000",
    add_arguments=_arguments,
    build=_build,
    tls=True,
)
