"""What a protocol unit test gives a protocol instead of a loop: a scheduler on a clock the test
moves by hand (`ManualScheduler`). Nothing runs until the test says so."""

from __future__ import annotations

from server.net.executor import INLINE


class Call:
    """A scheduled call; `cancel()` as the loop's Timer."""

    def __init__(self, when: float, callback, args: tuple):
        self.when, self.callback, self.args, self.cancelled = when, callback, args, False

    def cancel(self) -> None:
        self.cancelled = True


class ManualScheduler:
    """The protocol's `Scheduler`: timers wait for `advance`, soon calls for `run_soon`."""

    def __init__(self, executor=INLINE):
        self.executor = executor
        self.now = 0.0
        self.timers: list[Call] = []
        self.soon: list[Call] = []

    def time(self) -> float:
        return self.now

    def call_later(self, delay: float, callback, *args) -> Call:
        call = Call(self.now + delay, callback, args)
        self.timers.append(call)
        return call

    def call_soon(self, callback, *args) -> None:
        self.soon.append(Call(self.now, callback, args))

    call_soon_threadsafe = call_soon

    def pending(self, callback_name: str) -> list[Call]:
        """The live timers that would call `callback_name`."""
        return [t for t in self.timers if not t.cancelled and t.callback.__name__ == callback_name]

    def advance(self, seconds: float) -> None:
        """Move the clock; the timers due by then run, earliest first."""
        self.now += seconds
        while due := sorted(
            (t for t in self.timers if not t.cancelled and t.when <= self.now),
            key=lambda t: t.when,
        ):
            due[0].cancelled = True  # spent
            due[0].callback(*due[0].args)

    def run_soon(self) -> None:
        """Run the queued soon calls (and those they queue)."""
        while self.soon:
            call = self.soon.pop(0)
            call.callback(*call.args)
