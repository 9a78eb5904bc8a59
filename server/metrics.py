"""Counters, gauges and histograms that add up across every process of one server.

Metrics are defined at import time, then `freeze()` (before any fork) lays them out in a
shared table (server/sharedtable.py) with one row per process. A process claims a free row the
first time it counts something -- so fork children and prefork workers need no set-up -- and a
row whose process has died is folded into the archive row when it is reclaimed: counters
survive their process, gauges (things open *now*) do not. Counting touches only the process's
own row, under a thread lock (skipped by the request recorders while one thread alone calls
them: server/recorders.py): no cross-process lock on the hot path.

A metric has at most one label name, or several joined by commas (`"direction,outcome"`), whose
values are then joined the same way (`"download,ok"`): every value is declared up front, so
labels stay bounded and a value's place in a row is fixed.

A histogram is a row of counters, one per bucket (not cumulative: an observation is one add to
the bucket a bisect finds), plus its sum in seconds, a float (a double in the same row, read
through a second view of it); rendering makes the buckets cumulative
and the count their total, as Prometheus expects. A histogram can be split `by` a counter
defined before it: each bucket is then one slot per value of that counter's label, and an
observation's one add counts the counter too (a request's status and its latency bucket in one
add, not two: every add to the shared row costs about 900 instructions). Rendering
adds the slots up both ways: the histogram over the counter's values, the counter over buckets.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import CodeType

from .recorders import HistogramPlaces, alone_code, generate
from .sharedtable import SharedTable

log = logging.getLogger(__name__)

ARCHIVE = 0  # row 0 holds what dead processes counted
SUM = "sum"  # a histogram's slot for the sum of its observations: a float, in seconds
#: The Prometheus text exposition format, as served by /-/metrics and --metrics-listen.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass
class Metric:
    name: str
    kind: str  # "counter", "gauge" or "histogram"
    help: str
    label: str = ""  # a label name, or names joined by commas
    slots: dict[str, int] = field(default_factory=dict)  # label value -> slot ("" unlabelled)
    bounds: tuple[float, ...] = ()  # a histogram's bucket upper bounds, ascending (no +Inf)
    first: int = 0  # the slot of the first label value; a metric's slots are consecutive
    width: int = 0  # how many slots, from `first`
    by: str = ""  # a histogram split by this counter's values: a bucket is `stride` slots
    stride: int = 1
    counted_in: str = ""  # a counter that such a histogram's buckets also count
    less: str = ""  # a gauge whose value is less this histogram's count


class Metrics:
    """A registry; `METRICS` below is the one the server uses."""

    def __init__(self) -> None:
        self.metrics: dict[str, Metric] = {}
        self.info: dict[str, str] = {}
        self.started = time.time()
        self._slots = 0
        self._rows = 0
        self._view: memoryview | None = None  # the rows as 64-bit integers
        self._floats: memoryview | None = None  # the same rows as doubles (histogram sums)
        self._float_slots: set[int] = set()
        self._table: SharedTable | None = None
        #: This process's own row, as integers and as doubles: recorders index it by slot
        #: (no `row * width + slot` per add). None until the process first counts.
        self._mine: memoryview | None = None
        self._mine_floats: memoryview | None = None
        self._lock = threading.Lock()
        self._recorders: dict[tuple, Callable] = {}
        #: Each request recorder's two bodies: (locked, alone).
        self._request_codes: dict[Callable, tuple[CodeType, CodeType]] = {}
        #: The models serving in this process, and whether each serves from one thread.
        self._serving: dict[object, bool] = {}
        os.register_at_fork(after_in_child=self._forked)

    def _forked(self) -> None:
        """In a new child: the parent's row and its lock are not ours (the lock may be held)."""
        self._lock = threading.Lock()
        self._mine = self._mine_floats = None

    # -- definition (before freeze) -------------------------------------------------------
    def counter(self, name: str, help: str, label: str = "", values=("",)) -> None:
        self._define(Metric(name, "counter", help, label), values)

    def gauge(self, name: str, help: str, label: str = "", values=("",), less: str = "") -> None:
        """`less`: a histogram whose observations end what this gauge counts (requests
        started, less those finished): the gauge is only added to, and an event's end costs
        no add of its own."""
        self._define(Metric(name, "gauge", help, label, less=less), values)

    def histogram(self, name: str, help: str, bounds: Sequence[float], by: str = "") -> None:
        """Buckets with these upper bounds (seconds, say) and +Inf; `observe()` records.
        `by`: a counter defined before it, which each observation also counts (see above)."""
        ordered = tuple(sorted(float(bound) for bound in bounds))
        if not ordered or len(set(ordered)) != len(ordered):
            raise ValueError(f"histogram {name}: bucket bounds must be distinct, at least one")
        counter = self.metrics.get(by) if by else None
        if by and (counter is None or counter.kind != "counter" or counter.counted_in):
            raise ValueError(f"histogram {name}: {by} is not a counter of its own defined before")
        if name in self.metrics:
            return  # defining twice (a module imported twice) is harmless
        stride = counter.width if counter else 1
        metric = Metric(name, "histogram", help, "le", bounds=ordered, by=by, stride=stride)
        self._define(metric, [*(repr(bound) for bound in ordered), "+Inf", SUM], stride)
        self._float_slots.add(metric.slots[SUM])
        if counter:
            counter.counted_in = name

    def _define(self, metric: Metric, values, bucket_width: int = 1) -> None:
        if metric.name in self.metrics:
            return  # defining twice (a module imported twice) is harmless
        if self._view is not None:
            raise RuntimeError(f"metric {metric.name} defined after freeze()")
        metric.first = self._slots
        for value in values:
            metric.slots[str(value)] = self._slots
            self._slots += 1 if value == SUM else bucket_width  # a split bucket: `stride` slots
        metric.width = self._slots - metric.first
        self.metrics[metric.name] = metric

    def freeze(self, rows: int = 1024, **info: str) -> None:
        """Allocate the shared rows; call once, in the first process, before forking."""
        self.info.update(info)
        self.started = time.time()
        self._rows = rows
        self._width = self._slots
        self._table = SharedTable(rows, 8 * self._width)
        self._table.pids[ARCHIVE] = -1  # never claimed, never reclaimed
        self._view = self._table.payload.cast("q")
        self._floats = self._table.payload.cast("d")

    # -- counting: a value's place in a row, resolved by name or once by hot paths ----------
    def add(self, name: str, amount: int = 1, label: str = "") -> None:
        """Add to a counter or gauge (negative amounts for gauges)."""
        if self._view is not None:
            slots = self.metrics[name].slots
            slot = slots.get(label, slots.get("other"))
            if slot is not None:
                self.add_at(slot, amount)

    def observe(self, name: str, value: float, label: str = "") -> None:
        """Record one observation in a histogram: its bucket and its sum; for one split `by`
        a counter, under that counter's `label` (counted there too)."""
        by, record = self.metrics[name].by, self.recorder(0, self.histogram_places(name))
        record(value, self.place(by, label)) if by else record(value)

    def place(self, name: str, label: str = "") -> int | None:
        """Where a counter's or gauge's value lives in a row (for `add_at` and recorders);
        None: uncounted."""
        metric = self.metrics[name]
        slot = metric.slots.get(label, metric.slots.get("other"))
        return slot

    def histogram_places(self, name: str) -> HistogramPlaces:
        """Where a histogram lives in a row (for `recorder`)."""
        metric = self.metrics[name]
        by_first = self.metrics[metric.by].first if metric.by else None
        return HistogramPlaces(
            metric.first, metric.bounds, metric.slots[SUM], metric.stride, by_first
        )

    def add_at(self, *pairs: int) -> None:
        """Add amounts at places: place, amount, place, amount, ..."""
        self.recorder(len(pairs) // 2)(*pairs)

    def recorder(
        self, pairs: int, histogram: HistogramPlaces | None = None, requests: bool = False
    ) -> Callable:
        """A function that records one event under the lock (but see `requests`):
        `record(p0, a0, p1, a1, ...)` adds each amount at its place (from `place`); with a
        histogram, `record(value, p0, a0, ...)` also observes `value` (its bucket +1, its sum
        +value), and with one split `by` a counter, `record(value, place, p0, a0, ...)` under
        the counter's `place`.

        Generated for its shape (server/recorders.py). Hot paths make theirs once; others
        share one per shape.

        `requests`: a request recorder, called only where connections are served, and the
        only code adding to its places; it skips the lock while one thread alone calls it
        (`serving`)."""
        key = (pairs, histogram, requests)
        record = self._recorders.get(key)
        if record is None:
            record = self._recorders[key] = generate(pairs, histogram, self)
            if requests:
                alone = alone_code(pairs, histogram, self)
                self._request_codes[record] = (record.__code__, alone)
                self._relock()
        return record

    def serving(self, model: object, one_thread: bool) -> None:
        """`model` starts serving in this process (fork children inherit it); `one_thread`:
        it serves every connection from one thread. While that is true of the only model
        serving here, the request recorders add without the lock."""
        self._serving[model] = one_thread
        self._relock()

    def served(self, model: object) -> None:
        """`model` serves no more (nothing if it never started)."""
        self._serving.pop(model, None)
        self._relock()

    def _relock(self) -> None:
        """Swap the request recorders' code, not the functions: modules bind them at import."""
        alone = list(self._serving.values()) == [True]
        for record, (locked, unlocked) in self._request_codes.items():
            record.__code__ = unlocked if alone else locked

    def claim_row(self) -> memoryview | None:
        """This process's row, for a recorder that does not hold the lock: claimed under it,
        another thread (the log sink's, say) may be claiming it too."""
        with self._lock:
            return self._own_row() if self._mine is None else self._mine

    def _own_row(self) -> memoryview | None:
        """This process's row, claimed the first time it counts: a free one or one whose
        process died. None before freeze(): nothing is counted yet."""
        if self._table is None:
            return None
        row = self._table.claim(first=ARCHIVE + 1, reuse=self._fold)
        if row < 0:  # counted nowhere rather than retried for every event
            log.warning("metrics: all %d rows taken; this process is not counted", self._rows)
            mine = memoryview(bytearray(8 * self._width))
        else:
            mine = self._table.payload[8 * self._width * row : 8 * self._width * (row + 1)]
        self._mine, self._mine_floats = mine.cast("q"), mine.cast("d")
        return self._mine

    def _fold(self, row: int) -> None:
        """A dead process's row: its counters go to the archive, its gauges to nothing."""
        base = row * self._width
        for metric in self.metrics.values():
            for slot in range(metric.first, metric.first + metric.width):
                view, i = self._view_of(slot), base + slot
                if metric.kind != "gauge":
                    view[ARCHIVE * self._width + slot] += view[i]
                view[i] = 0

    # -- reading ----------------------------------------------------------------------------
    def _view_of(self, slot: int) -> memoryview:
        """The view a slot's value is read through: doubles for histogram sums."""
        return self._floats if slot in self._float_slots else self._view

    def value(self, name: str, label: str = "") -> float:
        """The total over every process."""
        if self._view is None:
            return 0
        with self._lock, self._table.locked():
            return self._value(self.metrics[name], self.metrics[name].slots[label])

    def _value(self, metric: Metric, slot: int) -> float:
        """A counter's or gauge's total at one label's slot, over every process."""
        total = sum(self._total(metric, part) for part in self._parts(metric, slot))
        if metric.less:  # as a gauge's: live processes only
            ended = self.metrics[metric.less]
            total -= sum(self._total(metric, part) for part in range(ended.first, ended.slots[SUM]))
        return total

    def _parts(self, metric: Metric, slot: int) -> list[int]:
        """The slots whose sum is the value at `slot`: itself, and for a counter that a split
        histogram counts too, that value's slot in each of its buckets."""
        if not metric.counted_in:
            return [slot]
        histogram = self.metrics[metric.counted_in]
        column = histogram.first + slot - metric.first
        return [slot, *range(column, histogram.slots[SUM], histogram.stride)]

    def _total(self, metric: Metric, slot: int) -> float:
        total, pids, view = 0, self._table.pids, self._view_of(slot)
        for row in range(self._rows):
            if pids[row] == 0:  # never claimed: nothing counted there
                continue
            if metric.kind == "gauge" and not self._table.alive(row):  # the archive neither
                continue
            total += view[row * self._width + slot]
        return total

    def by_process(self, *names: str) -> dict[int, dict[str, int]]:
        """Each live process's own totals of these counters (all labels summed), by pid: how
        the work is spread over prefork's workers. Read from the rows; counting is untouched."""
        if self._view is None:
            return {}
        spread: dict[int, dict[str, int]] = {}
        with self._lock, self._table.locked():
            for row in range(ARCHIVE + 1, self._rows):
                if not self._table.alive(row):
                    continue
                base = row * self._width
                spread[self._table.pids[row]] = {
                    name: sum(self._view[base + part] for part in self._every_part(name))
                    for name in names
                }
        return spread

    def _every_part(self, name: str) -> list[int]:
        """The slots whose sum is a counter's total over all its labels."""
        metric = self.metrics[name]
        return [part for slot in metric.slots.values() for part in self._parts(metric, slot)]

    def render(self) -> str:
        """The Prometheus text exposition of every metric, summed over processes."""
        lines = []
        if self.info:
            labels = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(self.info.items()))
            lines += [
                "# HELP server_info The model and service serving.",
                "# TYPE server_info gauge",
                f"server_info{{{labels}}} 1",
            ]
        lines += [
            "# HELP server_start_time_seconds When the server started (Unix time).",
            "# TYPE server_start_time_seconds gauge",
            f"server_start_time_seconds {self.started:.3f}",
            "# HELP server_uptime_seconds Seconds since the server started.",
            "# TYPE server_uptime_seconds gauge",
            f"server_uptime_seconds {time.time() - self.started:.3f}",
        ]
        if self._view is None:
            return "\n".join(lines) + "\n"
        with self._lock, self._table.locked():
            for metric in self.metrics.values():
                lines += [
                    f"# HELP {metric.name} {metric.help}",
                    f"# TYPE {metric.name} {metric.kind}",
                ]
                if metric.kind == "histogram":
                    lines += self._histogram_lines(metric)
                    continue
                for value, slot in metric.slots.items():
                    total = self._value(metric, slot)
                    lines.append(f"{metric.name}{_labels(metric, value)} {total}")
        return "\n".join(lines) + "\n"

    def _histogram_lines(self, metric: Metric) -> list[str]:
        """Cumulative buckets, then _sum (seconds) and _count."""
        lines, count = [], 0
        for bound, slot in metric.slots.items():
            if bound == SUM:
                lines.append(f"{metric.name}_sum {self._total(metric, slot):.6f}")
            else:  # a split bucket: the sum of its slots, one per value of the counter
                parts = range(slot, slot + metric.stride)
                count += sum(self._total(metric, part) for part in parts)
                lines.append(f'{metric.name}_bucket{{le="{bound}"}} {count}')
        lines.append(f"{metric.name}_count {count}")
        return lines


def _labels(metric: Metric, value: str) -> str:
    """`{name="value"}`, one pair per comma-separated name; "" for an unlabelled metric."""
    if not metric.label:
        return ""
    pairs = zip(metric.label.split(","), value.split(","), strict=True)
    return "{" + ",".join(f'{name}="{_escape(part)}"' for name, part in pairs) + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


METRICS = Metrics()
METRICS.counter("server_connections_total", "Connections (or datagrams) accepted.")
METRICS.gauge("server_connections_open", "Connections being served now.")
METRICS.gauge("server_workers", "Worker processes (prefork), else 1.")
