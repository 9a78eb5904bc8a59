"""Command line: `python -m server SERVICE [flags]`, every flag with an environment twin.

Each service is a `Command` (server/commands/): its flags, its default model, and how to build
its `Service`; other commands are `Tool`s. Only the command being run is imported. This module
is the composition root -- the one place that knows both models and protocols -- and turns any
ServerError into one line on stderr and its exit status.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from . import log as logsetup
from .errors import ConfigError, ServerError

if TYPE_CHECKING:
    from .config import Settings
    from .net.sockets import Listener
    from .service import Service

ENV_PREFIX = "SERVER_"
log = logging.getLogger("server")


# Command and Tool are NamedTuples, and config (a dataclass) loads only to serve: the probe runs
# in every container every few seconds, and `dataclasses` alone was 79 of its 126 ms of imports.
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


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line naming the problem, exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


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


def add_core_options(parser: argparse.ArgumentParser, command: Command) -> None:
    """The flags every service shares: model, address, bounds, timeouts, logging."""
    from .config import Settings
    from .models import MODELS

    d = Settings()
    core = parser.add_argument_group("serving")
    add_option(
        core,
        "--model",
        default=command.default_model,
        choices=list(MODELS),
        help="concurrency model (see `python -m server models`)",
    )
    add_option(
        core, "--bind", default=command.default_bind, help="HOST:PORT, [IPV6]:PORT or unix:PATH"
    )
    if command.datagram:
        add_option(
            core,
            "--udp",
            action="store_true",
            help="serve datagrams (UDP, or Unix datagram with unix:PATH)",
        )
    add_option(core, "--workers", type=int, default=d.workers, help="prefork: worker processes")
    add_option(
        core,
        "--worker-model",
        default=d.worker_model,
        choices=[m for m in MODELS if m != "prefork"],
        help="prefork: each worker's model",
    )
    add_option(
        core, "--threads", type=int, default=d.threads, help="threadpool, hybrid: worker threads"
    )
    add_option(
        core,
        "--queue-size",
        type=int,
        default=d.queue_size,
        help="threadpool, hybrid: requests waiting for a worker",
    )
    add_option(
        core, "--max-threads", type=int, default=d.max_threads, help="thread: most threads at once"
    )
    add_option(
        core,
        "--max-children",
        type=int,
        default=d.max_children,
        help="fork: most child processes at once",
    )
    add_option(core, "--backlog", type=int, default=d.backlog, help="listen backlog")
    add_option(
        core,
        "--timeout",
        type=float,
        default=d.timeout,
        help="seconds before an idle client is dropped",
    )
    add_option(
        core,
        "--graceful-timeout",
        type=float,
        default=d.graceful_timeout,
        help="seconds SIGTERM waits for requests in flight",
    )
    add_option(
        core,
        "--worker-timeout",
        type=float,
        default=d.worker_timeout,
        help="prefork: replace a worker silent (stuck) this many seconds; 0: never",
    )
    add_option(
        core,
        "--max-requests",
        type=int,
        default=d.max_requests,
        help="prefork: recycle a worker after this many requests (drained first); 0: never",
    )
    add_option(
        core,
        "--max-requests-jitter",
        type=int,
        default=d.max_requests_jitter,
        help="prefork: add 0..J to --max-requests per worker, so they do not recycle together",
    )
    add_option(core, "--log-level", default=d.log_level, choices=list(logsetup.LEVELS))
    add_option(
        core,
        "--metrics-listen",
        default=d.metrics_listen,
        help="HOST:PORT or unix:PATH: serve Prometheus text at /metrics there, under every model",
    )
    if command.proxy_protocol:
        add_proxy_options(parser, d)
    if command.tls:
        add_tls_options(parser)


def add_tls_options(parser: argparse.ArgumentParser) -> None:
    """TLS on every stream connection, with the standard library's ssl."""
    tls = parser.add_argument_group("TLS")
    add_option(tls, "--certfile", default="",
               help="serve TLS with this certificate chain (PEM); needs --keyfile")  # fmt: skip
    add_option(tls, "--keyfile", default="", help="the certificate's private key (PEM)")


def add_proxy_options(parser: argparse.ArgumentParser, defaults: Settings) -> None:
    """Who the clients really are when a proxy stands in front (every stream service)."""
    proxy = parser.add_argument_group("behind a proxy")
    add_option(
        proxy,
        "--proxy-protocol",
        action="store_true",
        help="every connection starts with a PROXY header (v1 or v2) naming the client",
    )
    add_option(
        proxy,
        "--forwarded-allow-ips",
        default=defaults.forwarded_allow_ips,
        help="proxies trusted to send PROXY headers and X-Forwarded-For: IPs, CIDRs, '*', 'unix'",
    )


def settings_from(args: argparse.Namespace) -> Settings:
    from .config import Settings

    values = {name: getattr(args, name) for name in Settings.names() if hasattr(args, name)}
    return Settings(**values).validate()


def serve(command: Command, args: argparse.Namespace) -> int:
    """Run a command's service with the settings its flags describe."""
    from . import api

    settings = settings_from(args)
    logsetup.configure(settings.log_level, nonblocking=True)
    return api.serve(lambda listener: command.build(args, settings, listener), settings)


def build_parser(chosen: str | None) -> Parser:
    """Every command's name and help; the flags of the chosen one only (its module loads)."""
    from .commands import ENTRIES

    parser = Parser(prog="server", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for name, entry in ENTRIES.items():
        p = sub.add_parser(name, help=entry.help, description=entry.help)
        if name == chosen:
            _configure(p, entry.load())
    return parser


def _configure(parser: argparse.ArgumentParser, command: Command | Tool) -> None:
    if isinstance(command, Tool):
        command.add_arguments(parser)
        parser.set_defaults(run=command.run)
        return
    add_core_options(parser, command)
    command.add_arguments(parser)
    parser.set_defaults(run=lambda args: serve(command, args))


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    chosen = next((arg for arg in argv if not arg.startswith("-")), None)
    try:
        args = build_parser(chosen).parse_args(argv)
        logsetup.configure(getattr(args, "log_level", "info"))
        return args.run(args)
    except ServerError as exc:
        print(f"server: error: {exc}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        return 130
