"""prefork --cpu-affinity: each worker on one CPU, and (--reuse-port) the connections whose
packets arrive on that CPU.

A worker serving a client whose packets are handled on the other CPU pays a cross-CPU wake-up
each way per request; on the 2-core VM of bench/METHOD.md (prefork) that was the difference
between its two modes. Pinned, each worker's socket says which CPU it serves
(SO_INCOMING_CPU) and Linux (6.1+) picks, among a SO_REUSEPORT group, the socket of the CPU
the SYN was processed on. Over loopback that is the client's CPU; from a NIC, the CPU its
interrupts (RSS queues) go to: a single-queue NIC sends every connection to one worker.
"""

from __future__ import annotations

import os
import socket

from ..errors import ConfigError
from ..net.sockets import Listener

#: Linux's value (asm-generic); Python 3.11's socket module does not name it.
SO_INCOMING_CPU = getattr(socket, "SO_INCOMING_CPU", 49)


def allowed_cpus() -> list[int]:
    """The CPUs this process may run on (taskset, cgroup cpusets), in order."""
    if not hasattr(os, "sched_setaffinity"):
        raise ConfigError("--cpu-affinity: this platform cannot pin processes (Linux only)")
    return sorted(os.sched_getaffinity(0))


def least_used(cpus: list[int], taken: list[int | None]) -> int:
    """The first of `cpus` with the fewest workers on it: workers go round the CPUs in turn,
    and a replacement takes the CPU its predecessor left."""
    return min(cpus, key=taken.count)


def pin(cpu: int, listener: Listener) -> None:
    """In a new worker: on a socket of its own, ask for `cpu`'s traffic; run on `cpu` only."""
    if listener.own_queue:
        listener.sock.setsockopt(socket.SOL_SOCKET, SO_INCOMING_CPU, cpu)
    os.sched_setaffinity(0, {cpu})
