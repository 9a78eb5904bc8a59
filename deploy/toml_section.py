"""A TOML table with its dotted path, read for the inventories (deploy/inventory.py and the
swarm's deploy/swarm/config.py): a wrong type or an unknown key is one line naming the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import InventoryError


class Section:
    """A TOML table with its dotted path, for error messages that name the key."""

    def __init__(self, data: Any, where: str, path: Path):
        if not isinstance(data, dict):
            raise InventoryError(f"inventory {path}: {where} must be a table")
        self.data, self.where, self.path = data, where, path

    def _key(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def only(self, *keys: str) -> None:
        extra = sorted(set(self.data) - set(keys))
        if extra:
            raise InventoryError(f"inventory {self.path}: unknown key {self._key(extra[0])}")

    def get(self, key: str, kind: type | tuple, default: Any) -> Any:
        if key not in self.data:
            return default
        value = self.data[key]
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise InventoryError(f"inventory {self.path}: {self._key(key)} has the wrong type")
        return value

    def require(self, key: str, kind: type) -> Any:
        if key not in self.data:
            raise InventoryError(f"inventory {self.path}: {self._key(key)} is required")
        return self.get(key, kind, None)

    def table(self, key: str) -> Section:
        return Section(self.data.get(key, {}), self._key(key), self.path)

    def tables(self, key: str) -> list[tuple[str, Section]]:
        outer = self.table(key)
        return [(name, outer.table(name)) for name in outer.data]
