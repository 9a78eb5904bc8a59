"""`python -m server ftp`: the FTP service, and `python -m server ftp-user`: its users file."""

from __future__ import annotations

import getpass
import logging
import os
import socket
import sys

from ..errors import ConfigError
from ..models import Fork
from ..net.links import Links
from ..protocols.ftp import Authorizer, ConnectionTable, FTPSession, FTPSettings
from ..protocols.ftp.authorizer import (
    SCHEMES,
    Account,
    hash_password,
    read_users,
    valid_name,
    write_users,
)
from ..service import ProtocolService, proxy_policy, tls_policy
from .base import Command, Tool, add_option

log = logging.getLogger("server.ftp")


def _build(args, settings, listener) -> ProtocolService:
    if not args.anonymous and not args.users:
        raise ConfigError("nobody could log in: give --anonymous and/or --users FILE")
    root = None
    if args.anonymous:
        if not args.root:
            raise ConfigError("--anonymous needs --root DIR, the folder anonymous users see")
        if not os.path.isdir(args.root):
            raise ConfigError(f"--root {args.root!r} is not a folder")
        root = os.path.abspath(args.root)
    authorizer = Authorizer(args.users, anonymous_root=root)
    _warn_about_users(authorizer)
    proxy = proxy_policy(settings)
    data_timeout = _positive("--data-timeout", args.data_timeout)
    tls = _tls(args, settings, data_timeout)
    ftp = FTPSettings(
        authorizer=authorizer,
        passive_ports=parse_port_range(args.passive_ports) if args.passive_ports else None,
        masquerade=resolve_ipv4(args.masquerade) if args.masquerade else None,
        limits=_limits(args),
        idle_timeout=settings.timeout or None,
        data_timeout=data_timeout,
        login_delay=_positive("--login-delay", args.login_delay, zero=True),
        proxy=proxy,
        tls=tls,
        tls_required=args.tls_required,
    )
    return ProtocolService(
        "ftp",
        stream=lambda loop: FTPSession(ftp, loop, Links(loop)),
        idle_timeout=settings.timeout or None,
        proxy=proxy,
        tls=tls,
    )


def _tls(args, settings, handshake_timeout: float):
    """--certfile offers AUTH TLS; --tls-implicit starts every connection with TLS instead.
    A handshake (control or data) must finish within --data-timeout."""
    for flag in ("--tls-required", "--tls-implicit"):
        if getattr(args, flag[2:].replace("-", "_")) and not settings.certfile:
            raise ConfigError(f"{flag} needs --certfile and --keyfile")
    return tls_policy(settings, handshake_timeout, implicit=args.tls_implicit)


def _warn_about_users(authorizer: Authorizer) -> None:
    """Start anyway (the file is re-read when it changes), but say what will not work."""
    path = authorizer.users_file
    if path and not os.path.exists(path):
        log.warning("users file %s does not exist yet: no named user can log in", path)
    for account in authorizer.accounts():
        if not os.path.isdir(account.home):
            log.warning("home folder of %s is missing: %s", account.name, account.home)


def _limits(args) -> ConnectionTable:
    if args.max_connections < 1:
        raise ConfigError("--max-connections must be at least 1")
    if args.max_per_ip < 0:
        raise ConfigError("--max-per-ip must not be negative (0: no limit)")
    return ConnectionTable(args.max_connections, args.max_per_ip)


def _positive(flag: str, value: float, zero: bool = False) -> float:
    if value < 0 or (value == 0 and not zero):
        raise ConfigError(f"{flag} must be {'at least 0' if zero else 'more than 0'}")
    return value


def parse_port_range(text: str) -> range:
    """'30000-30099' -> range(30000, 30100)."""
    low, sep, high = text.partition("-")
    if not (sep and low.strip().isdigit() and high.strip().isdigit()):
        raise ConfigError(f"--passive-ports {text!r}: expected FIRST-LAST, e.g. 30000-30099")
    first, last = int(low), int(high)
    if not 1024 <= first <= last <= 65535:
        raise ConfigError(f"--passive-ports {text!r}: need 1024 <= FIRST <= LAST <= 65535")
    return range(first, last + 1)


def resolve_ipv4(host: str) -> str:
    """The IPv4 address PASV replies carry (PASV can only say IPv4)."""
    try:
        return socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
    except (socket.gaierror, IndexError) as exc:
        raise ConfigError(f"--masquerade {host!r}: not an IPv4 address or name ({exc})") from None


def _arguments(parser) -> None:
    ftp = parser.add_argument_group("ftp")
    add_option(ftp, "--root", help="the folder anonymous users see")
    add_option(ftp, "--anonymous", action="store_true", help="allow anonymous read-only logins")
    add_option(ftp, "--users", help="users file (see `ftp-user add`)")
    add_option(ftp, "--passive-ports", help="FIRST-LAST ports for passive data connections")
    add_option(ftp, "--masquerade", help="IPv4 address PASV advertises (a load balancer's)")
    add_option(
        ftp,
        "--max-connections",
        type=int,
        default=512,
        help="most control connections at once, over all processes (else 421)",
    )
    add_option(
        ftp,
        "--max-per-ip",
        type=int,
        default=0,
        help="most control connections from one address (0: no limit)",
    )
    add_option(
        ftp,
        "--data-timeout",
        type=float,
        default=30.0,
        help="seconds to open a data connection, and without data moving",
    )
    add_option(
        ftp,
        "--login-delay",
        type=float,
        default=1.0,
        help="seconds before answering a failed login",
    )
    _tls_arguments(ftp)


def _tls_arguments(ftp) -> None:
    """FTPS beside the shared --certfile/--keyfile (RFC 4217's AUTH TLS is on with them)."""
    add_option(ftp, "--tls-required", action="store_true",
               help="TLS (--certfile): no login over clear text, no data in clear")  # fmt: skip
    add_option(ftp, "--tls-implicit", action="store_true",
               help="TLS (--certfile) from the first byte, as on port 990")  # fmt: skip


FTP = Command(
    default_model=Fork.name,
    default_bind="127.0.0.1:2121",
    add_arguments=_arguments,
    build=_build,
    tls=True,
)


# -- ftp-user -------------------------------------------------------------------------------
def _user_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, parser_class=type(parser))
    add = sub.add_parser("add", help="add a user, or replace one with the same name")
    add_option(add, "--users", help="the users file (created if missing)")
    add.add_argument("--home", required=True, help="the folder this user sees as /")
    add.add_argument("--write", action="store_true", help="allow uploads and changes")
    add.add_argument("--password-env", metavar="VAR", help="read the password from $VAR")
    add.add_argument("--password-stdin", action="store_true", help="read it from stdin's 1st line")
    add.add_argument("--hash", choices=SCHEMES, default="scrypt", help="password hash")
    add.add_argument("name")
    remove = sub.add_parser("remove", help="remove a user")
    add_option(remove, "--users", help="the users file")
    remove.add_argument("name")
    show = sub.add_parser("list", help="list the users (no hashes)")
    add_option(show, "--users", help="the users file")


def _user_command(args) -> int:
    if not args.users:
        raise ConfigError("--users FILE is required")
    accounts = read_users(args.users)
    if args.action == "list":
        for account in accounts.values():
            print(f"{account.name}\t{'rw' if account.write else 'r'}\t{account.home}")
        return 0
    if args.action == "remove":
        if accounts.pop(args.name, None) is None:
            raise ConfigError(f"no user {args.name!r} in {args.users}")
        write_users(args.users, accounts)
        return 0
    return _add_user(args, accounts)


def _add_user(args, accounts: dict[str, Account]) -> int:
    if not valid_name(args.name):
        raise ConfigError(f"bad user name {args.name!r}: no spaces or colons")
    home = os.path.abspath(args.home)
    if not os.path.isdir(home):
        raise ConfigError(f"--home {args.home!r} is not a folder")
    if "\n" in home:
        raise ConfigError("--home must not contain a line break")
    encoded = hash_password(_read_password(args), args.hash)
    accounts[args.name] = Account(args.name, encoded, args.write, home)
    write_users(args.users, accounts)
    print(f"{args.name}: {'read-write' if args.write else 'read-only'}, home {home}")
    return 0


def _read_password(args) -> str:
    """From $VAR, stdin, or (at a terminal) a prompt asked twice."""
    if args.password_env:
        password = os.environ.get(args.password_env)
        if password is None:
            raise ConfigError(f"--password-env {args.password_env}: the variable is not set")
    elif args.password_stdin or not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise ConfigError("the passwords differ")
    if not password:
        raise ConfigError("the password is empty")
    return password


FTP_USER = Tool(add_arguments=_user_arguments, run=_user_command)
