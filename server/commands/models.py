"""`python -m server models`: every model, with one line on when to use it."""

from __future__ import annotations

from .base import Tool


def _list(_args) -> int:
    from ..models import MODELS as models

    width = max(map(len, models))
    for name, cls in models.items():
        print(f"{name:<{width}}  {cls.summary}")
    return 0


MODELS = Tool(add_arguments=lambda parser: None, run=_list)
