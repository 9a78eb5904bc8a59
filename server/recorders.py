"""The functions that count one event in this process's metrics row (`Metrics.recorder`).

Each is generated for its shape -- how many (place, amount) pairs, which histogram -- with an
unrolled body (as namedtuple and dataclasses generate theirs): a loop over the pairs cost a
request more than the adds themselves.

Two bodies per shape. LOCKED adds under the registry's thread lock: two threads adding to one
slot (`row[i] += a` reads, then writes) could lose an update even with the GIL. ALONE adds
without it, and serves only the request recorders while one thread alone adds to their places
(`Metrics.serving`); threads adding to other slots cannot touch these. A request recorder's
function stays the same object (modules bind it at import): its code is swapped instead, so
the choice costs a request nothing: without the lock, hello goes from 70,031 to 67,741
instructions a request, loop from 85,766 to 83,560 (bench/callgrind.py).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from types import CodeType
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from .metrics import Metrics

LOCKED = """\
def record({arguments}):
    lock = metrics._lock
    lock.acquire()  # not `with`: it costs twice as much, and this runs for every request
    try:
        row = metrics._mine
        if row is None:
            row = metrics._own_row()
            if row is None:
                return
{adds}
    finally:
        lock.release()
"""
ALONE = """\
def record({arguments}):
    row = metrics._mine
    if row is None:
        row = metrics.claim_row()  # under the lock: another thread may be claiming it
        if row is None:
            return
{adds}
"""
# le: the first bound >= value; on a fast server, the first (no bisect). `place` (a split
# histogram's counter's place) picks the column; `offset` is from that counter to the buckets.
OBSERVE = """\
row[{place}(offset if value <= bound else offset + stride * bisect(bounds, value))] += 1
metrics._mine_floats[total] += value"""


class HistogramPlaces(NamedTuple):
    """A histogram's slots in a row, resolved once by a hot path."""

    first: int  # the first bucket's slot
    bounds: tuple[float, ...]
    sum: int
    stride: int = 1  # slots per bucket: 1, or the number of values of the counter split by
    by_first: int | None = None  # split: the counter's first slot (recorders get its places)


def generate(pairs: int, histogram: HistogramPlaces | None, metrics: Metrics) -> Callable:
    """The LOCKED recorder of this shape."""
    return _compile(LOCKED, "        ", pairs, histogram, metrics)


def alone_code(pairs: int, histogram: HistogramPlaces | None, metrics: Metrics) -> CodeType:
    """The ALONE body of this shape, for `generate`'s function (it reads the same names)."""
    return _compile(ALONE, "    ", pairs, histogram, metrics).__code__


def _compile(template: str, indent: str, pairs: int, histogram, metrics: Metrics) -> Callable:
    names = {"metrics": metrics, "bisect": bisect.bisect_left}
    arguments, adds = _body(pairs, histogram, names)
    exec(_source(template, arguments, adds, indent), names)  # our own templates only
    return names["record"]


def _body(pairs: int, histogram: HistogramPlaces | None, names: dict) -> tuple[list, list]:
    """The arguments and the adds of a shape; the names its body reads go into `names`."""
    adds = [f"row[p{i}] += a{i}" for i in range(pairs)]
    arguments = [f"p{i}, a{i}" for i in range(pairs)]
    if histogram is not None:
        first, bounds, total, stride, by_first = histogram
        split = by_first is not None
        adds[:0] = OBSERVE.format(place="place + " if split else "").splitlines()
        arguments[:0] = ["value", "place"] if split else ["value"]
        names.update(bound=bounds[0], bounds=bounds, total=total, stride=stride)
        names.update(offset=first - (by_first or 0))
    return arguments, adds


def _source(template: str, arguments: list, adds: list, indent: str) -> str:
    body = "\n".join(indent + add for add in adds) or indent + "pass"
    return template.format(arguments=", ".join(arguments), adds=body)
