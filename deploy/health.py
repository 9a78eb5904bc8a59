"""The health gate: a new container counts as started only once Docker reports it healthy.

The image's HEALTHCHECK (or the inventory's health_cmd) decides; the deploy runs it every
`health_interval` seconds instead of the image's interval, so the gate opens within about a
second of the service being ready. The gate closes early when the container exits or Docker
declares it unhealthy, and after `health_timeout` seconds at the latest.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from .remote import Remote

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Verdict:
    healthy: bool
    reason: str  # why not, in a few words (with the last probe's output)
    seconds: float


def wait_healthy(remote: Remote, container: str, timeout: float, poll: float = 0.5) -> Verdict:
    started = time.monotonic()
    deadline = started + timeout
    status = "no such container"
    while True:
        data = remote.inspect(container)
        elapsed = time.monotonic() - started
        if data is None:
            return Verdict(False, "the container is gone", elapsed)
        state = data["State"]
        health = state.get("Health") or {}
        status = health.get("Status", "")
        if not state.get("Running"):
            return Verdict(False, f"exited with status {state.get('ExitCode')}", elapsed)
        if not health:
            return Verdict(False, "the image has no HEALTHCHECK (set health_cmd)", elapsed)
        if status == "healthy":
            return Verdict(True, "healthy", elapsed)
        if status == "unhealthy" or time.monotonic() >= deadline:
            return Verdict(False, f"{status} after {elapsed:.0f} s{_last_probe(health)}", elapsed)
        time.sleep(poll)


def _last_probe(health: dict) -> str:
    runs = health.get("Log") or []
    if not runs:
        return ""
    last = runs[-1]
    output = " ".join((last.get("Output") or "").split())[:160]
    return f"; last check exited {last.get('ExitCode')}" + (f": {output}" if output else "")
