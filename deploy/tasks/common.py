"""What every task shares: finding the inventory, opening the fleet, turning a DeployError into
invoke's Exit (one line, exit status 1), and the progress lines the tasks print."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import paramiko
from fabric import Config
from invoke import Context
from invoke.exceptions import Exit

from .. import inventory as inventory_mod
from ..errors import DeployError
from ..fleet import Fleet
from ..inventory import Inventory

ENV_INVENTORY = "DEPLOY_INVENTORY"

HELP = {
    "inventory": f"inventory TOML file (default: ${ENV_INVENTORY}, then deploy.inventory "
    "from the invoke/fabric config: deploy/inventory.toml)",
    "accept-new-host-keys": "trust and record the key of a host that known_hosts does not "
    "list yet (a changed key is always refused)",
    "hosts": "comma-separated host names to act on (default: every host)",
}


def helps(*names: str, **more: str) -> dict[str, str]:
    """HELP for the shared options `names`, plus the task's own."""
    return {name: HELP[name] for name in names} | {k.replace("_", "-"): v for k, v in more.items()}


def load_inventory(c: Context, option: str | None) -> Inventory:
    path = option or os.environ.get(ENV_INVENTORY) or c.config.deploy.inventory
    return inventory_mod.load(path)


def open_fleet(c: Context, inv: Inventory, accept_new: bool, strict: bool = True) -> Fleet:
    accept = accept_new or bool(c.config.deploy.get("accept_new_host_keys", False))
    config = c.config if isinstance(c.config, Config) else None
    return Fleet.connect(inv, accept_new=accept, config=config, strict=strict)


_started = time.monotonic()


def say(line: str) -> None:
    """A progress line, stamped with the seconds since the task started."""
    print(f"{time.monotonic() - _started:6.1f}s  {line}", flush=True)


@contextmanager
def reporting(what: str) -> Iterator[None]:
    """Time the task; a DeployError becomes Exit with its one line."""
    global _started
    _setup_logging()
    _started = time.monotonic()
    try:
        yield
    except DeployError as exc:
        raise Exit(f"{what} failed: {exc}", code=1) from None
    except (OSError, paramiko.SSHException) as exc:  # a connection lost mid-way
        logging.getLogger("deploy").debug("%s failed", what, exc_info=True)
        raise Exit(f"{what} failed: {type(exc).__name__}: {exc}", code=1) from None
    say(f"{what} done in {time.monotonic() - _started:.1f} s")


def _setup_logging() -> None:
    """Our warnings on stderr; Paramiko's only at DEPLOY_LOG_LEVEL=DEBUG (its transport thread
    logs a failed handshake on its own, after our one-line message has said it better)."""
    logger = logging.getLogger("deploy")
    if logger.handlers or logging.getLogger().handlers:
        return
    level = os.environ.get("DEPLOY_LOG_LEVEL", "WARNING").upper()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    for name in ("deploy", "paramiko"):
        logging.getLogger(name).addHandler(handler)
        logging.getLogger(name).setLevel(level)
    if level != "DEBUG":
        logging.getLogger("paramiko").setLevel(logging.CRITICAL + 1)


def table(rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
