"""Settings shared by every service, validated with errors that name the problem."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from .errors import ConfigError
from .log import LEVELS
from .net.trusted import TrustedPeers


@dataclass(init=False)
class Settings:
    """How to serve: the model, where to listen, bounds and timeouts.

    Each field is a CLI flag (`--backlog`) with an environment twin (`SERVER_BACKLOG`). The
    models' own settings (`--max-children`, `--workers`, ...) are declared by the models
    (server/models/options.py) and read as attributes too: `settings.max_children`.
    """

    model: str = ""  # empty: the registry's default model
    bind: str = "127.0.0.1:7000"
    udp: bool = False
    backlog: int = 1024
    timeout: float = 60.0
    graceful_timeout: float = 30.0
    drain_delay: float = 0.0  # seconds a TERM keeps serving before the drain begins
    log_level: str = "info"
    proxy_protocol: bool = False  # every stream connection starts with a PROXY header
    forwarded_allow_ips: str = "127.0.0.1,::1"  # who may send it (and X-Forwarded-For)
    certfile: str = ""  # TLS: certificate chain (PEM); with keyfile, every stream is TLS
    keyfile: str = ""  # TLS: its private key (PEM)
    metrics_listen: str = ""  # HOST:PORT (or unix:PATH) serving /metrics beside the service
    model_options: dict[str, Any] = field(default_factory=dict)

    def __init__(self, **values: Any):
        from .models import DEFAULT, model_options  # the models import this module

        for name in _core_names():
            setattr(self, name, values.pop(name, self.__dataclass_fields__[name].default))
        self.model = self.model or DEFAULT
        options = model_options()
        unknown = sorted(set(values) - set(options))
        if unknown:
            raise TypeError(f"Settings() got an unexpected setting {unknown[0]!r}")
        self.model_options = {name: values.get(name, o.default) for name, o in options.items()}

    def __getattr__(self, name: str) -> Any:
        """A model's setting (only called when no field has the name)."""
        try:
            return self.__dict__["model_options"][name]
        except KeyError:
            raise AttributeError(f"Settings has no setting {name!r}") from None

    def validate(self) -> Settings:
        from .models import model_options

        _at_least("backlog", self.backlog, 1)
        for name, option in model_options().items():
            if option.minimum is not None:
                _at_least(name, self.model_options[name], option.minimum)
        for name in ("timeout", "graceful_timeout", "drain_delay"):
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
        """Every setting's name: the fields, then the models' own."""
        from .models import model_options

        return _core_names() + list(model_options())


def _core_names() -> list[str]:
    """The settings that are fields of their own (the models' are in model_options)."""
    return [f.name for f in fields(Settings) if f.name != "model_options"]


def _at_least(name: str, value: float, low: int) -> None:
    if value < low:
        raise ConfigError(f"--{name.replace('_', '-')} must be at least {low} (got {value})")
