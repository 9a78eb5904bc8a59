"""The server models, by name. Each is one file and overrides one hook of `Model`."""

from __future__ import annotations

from ..errors import ModelUnavailable
from .base import Model
from .fork import Fork
from .hybrid import Hybrid
from .iterative import Iterative
from .multiplex import Epoll, Poll, Select
from .prefork import Prefork
from .thread import ThreadPerRequest, ThreadPool

MODELS: dict[str, type[Model]] = {
    cls.name: cls
    for cls in (Iterative, Select, Poll, Epoll, Hybrid, Fork, ThreadPerRequest, ThreadPool, Prefork)
}


def model_class(name: str) -> type[Model]:
    """The model called `name`, or ModelUnavailable listing the real names."""
    try:
        return MODELS[name]
    except KeyError:
        raise ModelUnavailable(
            f"unknown model {name!r}; choose one of: {', '.join(MODELS)}"
        ) from None


__all__ = ["MODELS", "Model", "model_class"]
