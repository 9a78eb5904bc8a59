"""The deploy's [monitoring], without Docker or SSH: the inventory table, the metrics ports
each container gets, the port checks, and the targets Prometheus is given."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from inventories import STREAMS, container, parse

from deploy import monitoring
from deploy.errors import InventoryError
from deploy.fleet import Fleet, HostState
from deploy.wiring import metrics_port, wired_env

REPO = Path(__file__).resolve().parents[2]
MONITORING = (
    STREAMS
    + """
[monitoring]
image = "prom-img"
"""
)


def test_without_the_table_nothing_changes(tmp_path):
    inv = parse(STREAMS, tmp_path)
    assert inv.monitoring is None
    env = wired_env(inv, inv.services["web"], inv.hosts["a"], 8081)
    assert "SERVER_METRICS_LISTEN" not in env


def test_each_service_and_slot_gets_its_own_metrics_port(tmp_path):
    inv = parse(MONITORING, tmp_path)
    assert inv.monitoring.listen == "127.0.0.1:9090" and inv.monitoring.retention == "7d"
    ports = {
        (name, slot): metrics_port(inv, service, slot)
        for name, service in inv.services.items()
        for slot in service.ports
    }
    # echo-tcp and echo-udp share their slots' numbers (TCP and UDP), not their metrics ports
    assert sorted(ports.values()) == list(range(9100, 9108))
    env = wired_env(inv, inv.services["echo-udp"], inv.hosts["b"], 7002)
    assert env["SERVER_METRICS_LISTEN"] == "0.0.0.0:9107"


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ('listen = "9090"', "monitoring.listen: HOST:PORT"),
        ("metrics_port = 80", "monitoring.metrics_port: 1024-65000"),
        ('colour = "red"', "unknown key monitoring.colour"),
        ("metrics_port = 8080", "tcp 8081 (services.web.ports and the metrics listener"),
        ('listen = "127.0.0.1:80"', "hosts.lb would use a port twice: tcp 80"),
        ("exporter_port = 80", "monitoring.exporter_port: 1024-65000"),
        ("exporter_port = 9090", "tcp 9090 (monitoring.listen and monitoring.exporter_port)"),
        ("exporter_port = 8079", "tcp 8079 (monitoring.exporter_port and balancer.status_port)"),
    ],
)
def test_bad_monitoring_tables_are_one_clear_line(tmp_path, extra, error):
    with pytest.raises(InventoryError) as raised:
        parse(MONITORING + extra + "\n", tmp_path)
    assert error in str(raised.value)


def test_the_inventory_may_not_set_what_the_deploy_sets(tmp_path):
    text = MONITORING.replace(
        "[services.ftp.env]\n", '[services.ftp.env]\nSERVER_METRICS_LISTEN = "0.0.0.0:1"\n'
    )
    with pytest.raises(InventoryError, match="SERVER_METRICS_LISTEN: the deploy sets it"):
        parse(text, tmp_path)


class _Remote:
    def __init__(self, host):
        self.host = host


def test_targets_are_the_live_containers_metrics_listeners(tmp_path):
    inv = parse(MONITORING, tmp_path)
    fleet = Fleet(inv)
    for name in ("a", "b"):
        fleet.hosts[name] = HostState(_Remote(inv.hosts[name]))
    fleet.hosts["a"].live["web"] = container("server-web-8082", 8082)
    fleet.hosts["b"].live["web"] = container("server-web-8081", 8081)
    fleet.hosts["b"].live["ftp"] = container("server-ftp-2121", 2121, running=False)
    groups = monitoring.targets(fleet)
    assert groups == [
        {"targets": ["192.0.2.1:9101"], "labels": {"service": "web", "host": "a", "version": "v"}},
        {"targets": ["192.0.2.2:9100"], "labels": {"service": "web", "host": "b", "version": "v"}},
    ]  # a stopped container is no target


def test_the_example_inventorys_monitoring_table_loads_once_uncommented(tmp_path):
    from test_deploy_units import EXAMPLE

    text = EXAMPLE.read_text()
    table = re.sub(r"^# ", "", text[text.index("# [monitoring]") :], flags=re.MULTILINE)
    inv = parse(text[: text.index("# [monitoring]")].replace('root = ".."', "") + table, tmp_path)
    assert inv.monitoring.image == "server-cluster/prometheus:latest"
    assert inv.monitoring.build.dockerfile == "docker/prometheus.Dockerfile"
    env = wired_env(inv, inv.services["echo-udp"], inv.hosts["app1"], 7001)
    assert env["SERVER_METRICS_LISTEN"] == "0.0.0.0:9106"


class _Home:
    def home(self) -> str:
        return "/home/deploy"


def test_prometheus_serves_the_cluster_status_page(tmp_path):
    inv = parse(MONITORING, tmp_path)
    args = monitoring.MonitoringHost(_Home(), Fleet(inv))._command()
    consoles = "/etc/prometheus/cluster/consoles"  # docker/prometheus.Dockerfile copies it there
    assert f"--web.console.templates={consoles}" in args
    assert f"--web.console.libraries={consoles}" in args
    assert (REPO / "monitoring/consoles/cluster.html").is_file()
