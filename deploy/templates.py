"""The balancer's configuration templates (deploy/*.conf.in), with @name placeholders, since
nginx's own variables start with $."""

from __future__ import annotations

import string
from pathlib import Path

HERE = Path(__file__).parent


class _Template(string.Template):
    delimiter = "@"


def template(name: str) -> string.Template:
    return _Template((HERE / name).read_text())


def indent(lines: list[str], depth: int = 8) -> str:
    return "\n".join(" " * depth + line for line in lines)
