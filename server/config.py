"""Settings shared by every service, validated with errors that name the problem."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

from .errors import ConfigError
from .log import LEVELS
from .net.trusted import TrustedPeers


@dataclass
class Settings:
    """How to serve: the model, where to listen, bounds and timeouts.

    Each field is a CLI flag (`--max-children`) with an environment twin (`SERVER_MAX_CHILDREN`).
    """

    model: str = "epoll"
    bind: str = "127.0.0.1:7000"
    udp: bool = False
    workers: int = os.cpu_count() or 2
    worker_model: str = "epoll"
    threads: int = 16
    queue_size: int = 256
    max_threads: int = 512
    max_children: int = 256
    backlog: int = 1024
    timeout: float = 60.0
    graceful_timeout: float = 30.0
    worker_timeout: float = 0.0
    max_requests: int = 0
    max_requests_jitter: int = 0
    log_level: str = "info"
    proxy_protocol: bool = False  # every stream connection starts with a PROXY header
    forwarded_allow_ips: str = "127.0.0.1,::1"  # who may send it (and X-Forwarded-For)
    certfile: str = ""  # TLS: certificate chain (PEM); with keyfile, every stream is TLS
    keyfile: str = ""  # TLS: its private key (PEM)
    metrics_listen: str = ""  # HOST:PORT (or unix:PATH) serving /metrics beside the service

    def validate(self) -> Settings:
        for name in ("workers", "threads", "max_threads", "max_children", "backlog"):
            _at_least(name, getattr(self, name), 1)
        for name in ("queue_size", "max_requests", "max_requests_jitter"):
            _at_least(name, getattr(self, name), 0)
        for name in ("timeout", "graceful_timeout", "worker_timeout"):
            if getattr(self, name) < 0:
                raise ConfigError(f"--{name.replace('_', '-')} must not be negative")
        if self.log_level not in LEVELS:
            raise ConfigError(f"--log-level must be one of {', '.join(LEVELS)}")
        TrustedPeers(self.forwarded_allow_ips)  # a bad list is an error even if nothing uses it
        if self.proxy_protocol and self.udp:
            raise ConfigError("--proxy-protocol: PROXY headers start streams; --udp has none")
        if bool(self.certfile) != bool(self.keyfile):
            raise ConfigError("--certfile and --keyfile go together: give both or neither")
        if self.certfile and self.udp:
            raise ConfigError("--certfile: TLS runs over streams; --udp has none")
        return self

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


def _at_least(name: str, value: int, low: int) -> None:
    if value < low:
        raise ConfigError(f"--{name.replace('_', '-')} must be at least {low} (got {value})")
