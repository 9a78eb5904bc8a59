"""What one HTTP connection needs to know, built once by the command."""

from __future__ import annotations

from dataclasses import dataclass, field

from .parser import Limits

SERVER = "server/0.1"


@dataclass
class HTTPConfig:
    limits: Limits = field(default_factory=Limits)
    #: Seconds an idle keep-alive connection is kept open between requests.
    keepalive_timeout: float = 5.0
    #: Seconds a client has to send a whole request head once it has started (slowloris).
    header_timeout: float = 10.0
    served_by: str = ""
    server: str = SERVER

    def __post_init__(self) -> None:
        # Headers every response carries, joined once.
        self.fixed = f"Server: {self.server}\r\n"
        if self.served_by:
            self.fixed += f"X-Served-By: {self.served_by}\r\n"
