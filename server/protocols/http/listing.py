"""The HTML page for a directory without index.html (only with --listing)."""

from __future__ import annotations

import html
import os
from urllib.parse import quote

from ...fs import Jail, PathRefused


def listing_page(path: str, jail: Jail, real: str) -> bytes:
    """Every entry of a directory that stays inside the jail, folders first, sorted."""
    entries = []
    for entry in os.scandir(real):
        try:
            jail.real(entry.path[len(jail.root) :])  # a symlink out of the root is not listed
            is_dir = entry.is_dir()
        except (PathRefused, OSError):
            continue
        entries.append((not is_dir, entry.name + ("/" if is_dir else "")))
    title = html.escape(path)
    rows = [
        f'<li><a href="{quote(name)}">{html.escape(name)}</a></li>' for _, name in sorted(entries)
    ]
    if path != "/":
        rows.insert(0, '<li><a href="../">../</a></li>')
    page = (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Index of {title}</title>'
        f"</head>\n<body><h1>Index of {title}</h1>\n<ul>\n"
        + "\n".join(rows)
        + "\n</ul></body></html>\n"
    )
    return page.encode("utf-8")
