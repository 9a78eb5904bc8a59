"""Command line: `python -m server SERVICE [flags]`, every flag with an environment twin.

Each service is a `Command` (server/commands/): its flags, its default model, and how to build
its `Service`; other commands are `Tool`s. Only the command being run is imported. This module
is the composition root -- the one place that knows both models and protocols -- and turns any
ServerError into one line on stderr and its exit status.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from . import log as logsetup
from .commands.base import Command, Tool, add_option
from .errors import ServerError

if TYPE_CHECKING:
    from .config import Settings

log = logging.getLogger("server")


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line naming the problem, exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def add_core_options(parser: argparse.ArgumentParser, command: Command) -> None:
    """The flags every service shares (model, address, timeouts, logging), and the models'."""
    from .config import Settings
    from .models import MODELS, model_options

    d = Settings()
    core = parser.add_argument_group("serving")
    add_option(core, "--model", default=command.default_model, choices=list(MODELS),
               help="concurrency model (see `python -m server models`)")  # fmt: skip
    add_option(core, "--bind", default=command.default_bind,
               help="HOST:PORT, [IPV6]:PORT or unix:PATH")  # fmt: skip
    if command.datagram:
        add_option(core, "--udp", action="store_true",
                   help="serve datagrams (UDP, or Unix datagram with unix:PATH)")  # fmt: skip
    add_option(core, "--backlog", type=int, default=d.backlog, help="listen backlog")
    add_option(core, "--timeout", type=float, default=d.timeout,
               help="seconds before an idle client is dropped")  # fmt: skip
    add_option(core, "--graceful-timeout", type=float, default=d.graceful_timeout,
               help="seconds SIGTERM waits for requests in flight")  # fmt: skip
    add_option(core, "--drain-delay", type=float, default=d.drain_delay,
               help="seconds SIGTERM keeps serving before it drains, while load balancers "
               "that learn of the stop by DNS drop this replica")  # fmt: skip
    add_option(core, "--log-level", default=d.log_level, choices=list(logsetup.LEVELS))
    add_option(core, "--metrics-listen", default=d.metrics_listen,
               help="HOST:PORT or unix:PATH: serve Prometheus text at /metrics there, "
               "under every model")  # fmt: skip
    models = parser.add_argument_group("models (each flag names the models that read it)")
    for option in model_options().values():
        if option.type is bool:  # a switch: off unless given (or its environment twin says 1)
            add_option(models, option.flag, action="store_true", help=option.help)
            continue
        choices = option.choices() if option.choices else None
        add_option(models, option.flag, type=option.type, default=option.default,
                   choices=choices, help=option.help)  # fmt: skip
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
