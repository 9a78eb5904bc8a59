"""Every server of a suite up at once for one case, measured in alternating order.

Alternating (round 1 in order, round 2 reversed, ...) spreads the machine's drift -- other
work, thermal state, page cache -- over all servers instead of charging it to whoever ran last.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

from .context import Context
from .procs import Proc
from .servers import Launch, Spec, spawn

PasvFor = Callable[[int], tuple[int, int]]


@contextlib.contextmanager
def fleet(
    ctx: Context, specs: Sequence[Spec], case: str, pasv: PasvFor | None = None
) -> Iterator[tuple[dict[str, Proc], dict[str, str]]]:
    """Start every spec for `case`: (running procs by name, start errors by name); stop all."""
    procs: dict[str, Proc] = {}
    failed: dict[str, str] = {}
    try:
        # All spawned first, then waited for: start-ups overlap instead of adding up.
        for i, spec in enumerate(specs):
            launch = Launch(ctx, case, 0, pasv(i) if pasv else (0, 0))
            try:
                procs[spec.name] = spawn(spec, launch)
            except OSError as exc:
                failed[spec.name] = _one_line(exc)
        for name, proc in list(procs.items()):
            try:
                proc.wait_ready()
            except (RuntimeError, TimeoutError, OSError) as exc:
                failed[name] = _one_line(exc)
                del procs[name]
                proc.stop()
        for name, error in failed.items():
            ctx.progress.say(f"{case}: {name} did not start: {error}")
        yield procs, failed
    finally:
        stop_all(procs.values())


def stop_all(procs) -> None:
    """SIGTERM everyone first, then wait for each: stopping takes one drain, not N."""
    procs = list(procs)
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.stop()


def alternate(specs: Sequence[Spec], runs: int) -> Iterator[tuple[int, Spec]]:
    """(round, spec) for every round: forwards, then backwards, then forwards..."""
    for rnd in range(runs):
        order = specs if rnd % 2 == 0 else list(reversed(specs))
        for spec in order:
            yield rnd, spec


def _one_line(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
