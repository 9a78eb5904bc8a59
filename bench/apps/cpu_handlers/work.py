"""`/work`: a fixed amount of pure-Python arithmetic per request, for the cluster's scale-out case.

Served by `python -m server http --handlers bench/apps/cpu_handlers` (docs/http.md: a handler
module). The work is a count of rounds, not a time, so a replica held to a CPU quota serves
proportionally fewer requests: the replicas, not nginx or the network, are the bottleneck.
The default, 50,000 rounds, takes 3-5 ms of one core of the benchmark's machine; `?n=` sets
another count (1 to 10,000,000).
"""

from server.protocols.http import BadRequest

ROUNDS = 50_000
MAX_ROUNDS = 10_000_000


def handle(request):
    rounds = _rounds(request.args.get("n"))
    total = 0
    for i in range(rounds):
        total = (total + i * i) % 1_000_003
    return f"{rounds} rounds: {total}\n"


def _rounds(raw: str | None) -> int:
    if raw is None:
        return ROUNDS
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_ROUNDS:
        raise BadRequest(f"n must be a whole number from 1 to {MAX_ROUNDS:,}, not {raw!r}")
    return int(raw)
