"""The health gate: a new container counts as started only once its own health check passes.

The check is the image's HEALTHCHECK (or the inventory's health_cmd), run by the deploy with
`docker exec` every `health_interval` seconds until it passes -- one SSH command that loops on
the host. Docker's own schedule (the server image checks every 5 s) stays as it is for the life
of the container: a fast interval passed to `docker run` would run the probe every second
forever. The gate closes early when the container exits, and after `health_timeout` at the
latest.
"""

from __future__ import annotations

import logging
import shlex
import time
from dataclasses import dataclass

from .remote import Remote

log = logging.getLogger(__name__)

EXIT_GONE, EXIT_EXITED, EXIT_TIMEOUT = 3, 4, 5


@dataclass(frozen=True)
class Verdict:
    healthy: bool
    reason: str  # why not, in a few words (with the last check's output)
    seconds: float


def check_command(data: dict) -> list[str] | None:
    """The container's health check as an exec argv (None without one)."""
    test = ((data.get("Config") or {}).get("Healthcheck") or {}).get("Test") or []
    if not test or test[0] == "NONE":
        return None
    if test[0] == "CMD-SHELL":
        return ["/bin/sh", "-c", " ".join(test[1:])]
    return test[1:] if test[0] == "CMD" else test


def wait_healthy(remote: Remote, container: str, timeout: float, interval: float) -> Verdict:
    started = time.monotonic()
    data = remote.inspect(container)
    if data is None:
        return Verdict(False, "the container is gone", 0.0)
    argv = check_command(data)
    if argv is None:
        return Verdict(False, "the image has no HEALTHCHECK (set health_cmd)", 0.0)
    name = shlex.quote(container)
    probe = shlex.join(["docker", "exec", container, *argv])
    # one check may take as long as the image allows it (Docker's default: 30 s)
    limit = (data["Config"]["Healthcheck"].get("Timeout") or 30e9) / 1e9
    state = f"docker inspect -f '{{{{.State.Status}}}} {{{{.State.ExitCode}}}}' {name}"
    script = (
        f"end=$(($(date +%s) + {max(1, round(timeout))})); "
        "while :; do "
        f"s=$({state} 2>/dev/null) || exit {EXIT_GONE}; "
        f'case $s in running*) ;; *) echo "$s"; exit {EXIT_EXITED};; esac; '
        f"out=$(timeout {max(2, round(limit))} {probe} 2>&1); rc=$?; [ $rc = 0 ] && exit 0; "
        f'[ "$(date +%s)" -ge "$end" ] && {{ echo "$rc $out" | tail -n 1; exit {EXIT_TIMEOUT}; }}; '
        f"sleep {interval:g}; done"
    )
    result = remote.run(script, check=False, timeout=timeout + 60)
    elapsed = time.monotonic() - started
    last = " ".join(result.stdout.split())[-160:]
    if result.ok:
        return Verdict(True, "healthy", elapsed)
    if result.exited == EXIT_EXITED:
        return Verdict(False, f"exited with status {(last.split() or ['?'])[-1]}", elapsed)
    if result.exited == EXIT_GONE:
        return Verdict(False, "the container is gone", elapsed)
    code, _, output = last.partition(" ")
    check = f"the check ({_short(' '.join(argv))}) exited {code or '?'}"
    check += f": {output}" if output else " without output"
    return Verdict(False, f"not healthy after {elapsed:.0f} s; {check}", elapsed)


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
