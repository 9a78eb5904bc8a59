"""Docker Swarm on three Docker-in-Docker nodes: `fab swarm.*` from nothing to a converged
stack, spread, FTP to HTTP through nginx, rolling and rolled-back updates, a node lost."""

from __future__ import annotations

import pytest

TIMINGS: dict[str, float] = {}
pytest.swarm_timings = TIMINGS


def test_init_and_first_deploy_converge(swarm):
    init = swarm.fab("swarm.init")
    assert init.returncode == 0, init.output
    first = swarm.deploy("v1")
    assert first.returncode == 0, first.output
    TIMINGS["cold swarm.init"] = init.seconds
    TIMINGS["first swarm.deploy (3 nodes)"] = first.seconds
    status = swarm.fab("swarm.status")
    assert status.returncode == 0, status.output
