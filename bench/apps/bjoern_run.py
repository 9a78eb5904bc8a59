"""bjoern as a benchmark anchor: one process per core, all on one SO_REUSEPORT port.

`python bjoern_run.py PORT PROCESSES APP` (APP is `module:callable`). bjoern is one libev loop
per process with no worker management of its own, so this is how people scale it across
cores: N forked copies, each with its own listening socket, the kernel spreading connections.
The parent waits and takes the children down with it on SIGTERM/SIGINT.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys

import bjoern


def load(spec: str):
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def main() -> None:
    port, processes, app = int(sys.argv[1]), int(sys.argv[2]), load(sys.argv[3])
    children = []
    for _ in range(processes):
        pid = os.fork()
        if pid == 0:
            bjoern.run(app, "127.0.0.1", port, reuse_port=True)
            os._exit(0)
        children.append(pid)

    def stop(signum, frame):
        for pid in children:
            os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for pid in children:
        os.waitpid(pid, 0)


if __name__ == "__main__":
    main()
