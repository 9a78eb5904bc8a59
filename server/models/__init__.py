"""The server models, by name: one file each, and one line in MODELS.

Each model declares its own flags (`options`) and facts (`facts(settings)`); the CLI, the
settings, the API, the WSGI adapter and the tests read them from here, so adding a model is
its file plus its line below (docs/design.md walks through one).
"""

from __future__ import annotations

from ..errors import ModelUnavailable
from .base import Model
from .fork import Fork
from .hybrid import Hybrid
from .iterative import Iterative
from .lifecycle import Lifecycle
from .multiplex import Epoll, Poll, Select
from .options import Facts, Option
from .prefork import Prefork
from .thread import ThreadPerRequest, ThreadPool

MODELS: dict[str, type[Lifecycle]] = {
    cls.name: cls
    for cls in (Iterative, Select, Poll, Epoll, Hybrid, Fork, ThreadPerRequest, ThreadPool, Prefork)
}
#: The model of a server that names none (the library API's Settings()).
DEFAULT = Epoll.name


def model_class(name: str) -> type[Lifecycle]:
    """The model called `name`, or ModelUnavailable listing the real names."""
    try:
        return MODELS[name]
    except KeyError:
        raise ModelUnavailable(
            f"unknown model {name!r}; choose one of: {', '.join(MODELS)}"
        ) from None


def model_options() -> dict[str, Option]:
    """Every registered model's settings, by name (models may share one, e.g. --threads)."""
    return {option.name: option for cls in MODELS.values() for option in cls.options}


def model_facts(settings) -> Facts:
    """What the model `settings` choose will be (processes, WSGI flags, blocking)."""
    return model_class(settings.model).facts(settings)


__all__ = [
    "DEFAULT", "MODELS", "Facts", "Fork", "Lifecycle", "Model", "Option", "Prefork",
    "ThreadPerRequest", "model_class", "model_facts", "model_options",
]  # fmt: skip
