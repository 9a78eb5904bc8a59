"""What every FTP session of one server shares: built once by the command, before any fork."""

from __future__ import annotations

from dataclasses import dataclass

from ...net.proxy_gate import ProxyPolicy
from ...net.tls import TlsPolicy
from .authorizer import Authorizer
from .limits import ConnectionTable


@dataclass
class FTPSettings:
    authorizer: Authorizer
    passive_ports: range | None = None  # None: any free port
    masquerade: str | None = None  # IPv4 address PASV advertises instead of our own
    limits: ConnectionTable | None = None
    idle_timeout: float | None = 300.0  # control connection, between commands
    data_timeout: float = 30.0  # to open a data connection, and between data packets
    login_delay: float = 1.0  # before answering a failed login
    max_login_attempts: int = 3  # failed logins before the connection is closed
    banner: str = "FTP server ready."
    proxy: ProxyPolicy | None = None  # data connections start with a PROXY header too
    tls: TlsPolicy | None = None  # AUTH TLS offered; `implicit`: every connection starts TLS
    tls_required: bool = False  # no login over clear text, no data in clear (PROT C)
