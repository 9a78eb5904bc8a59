"""The stack generated from compose.yaml and the swarm inventory, without Docker."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from deploy.errors import DeployError, InventoryError
from deploy.swarm import config
from deploy.swarm.monitoring import Monitoring
from deploy.swarm.stack import DRAIN_DELAY, Image, Options, load_compose, render, services

REPO = Path(__file__).resolve().parents[2]
SERVER, NGINX = "server-cluster/server:latest", "server-cluster/nginx:latest"
PROMETHEUS = "server-cluster/prometheus:latest"


def options(**more) -> Options:
    images = {
        SERVER: Image(SERVER, "sha256:" + "a" * 64, "v7"),
        NGINX: Image(NGINX, "sha256:" + "b" * 64, "n1"),
        PROMETHEUS: Image(PROMETHEUS, "sha256:" + "c" * 64, "p1"),
    }
    return Options(stack="st", base=REPO, images=images, **more)


@pytest.fixture
def compose(tmp_path, monkeypatch):
    """compose.yaml, with its TLS secrets (scripts/cluster-tls makes them) in tmp_path."""
    (tmp_path / "server.pem").write_text("CERT")
    (tmp_path / "server.key").write_text("KEY")
    monkeypatch.setenv("CLUSTER_TLS_DIR", str(tmp_path))
    return load_compose(REPO / "compose.yaml")


def test_every_default_service_and_no_monitoring(compose):
    stack, files = render(compose, options())
    assert set(stack["services"]) == set(services(compose))
    assert not {"prometheus", "nginx-exporter"} & set(stack["services"])
    assert set(stack["configs"]) == {"ftp-users"}
    assert 9090 not in {p["published"] for p in stack["services"]["nginx"]["ports"]}
    assert stack["configs"]["ftp-users"]["name"].startswith("st-ftp-users-")
    assert files["configs-ftp-users"] == (REPO / "docker/ftp-users").read_bytes()
    assert files["secrets-tls-key"] == b"KEY"
    assert stack["secrets"]["tls-key"]["name"].startswith("st-tls-key-")
    key = {
        "source": "tls-key",
        "target": "server.key",
        "uid": "10001",
        "gid": "10001",
        "mode": 0o400,
    }
    assert key in stack["services"]["ftp-fork"]["secrets"]


def test_a_missing_secret_file_is_named(compose, monkeypatch, tmp_path):
    monkeypatch.setenv("CLUSTER_TLS_DIR", str(tmp_path / "none"))
    with pytest.raises(DeployError, match=r"secrets.tls-cert: cannot read .*none/server.pem"):
        render(compose, options())


def test_images_by_id_and_swarm_only_keys(compose):
    stack, _ = render(compose, options(replicas={"http-fork": 3}))
    fork = stack["services"]["http-fork"]
    assert fork["image"] == "sha256:" + "a" * 64
    assert not {"build", "pull_policy", "restart", "cpu_shares", "depends_on"} & set(fork)
    assert fork["deploy"]["replicas"] == 3
    assert fork["deploy"]["labels"] == {"server.version": "v7"}
    assert fork["environment"]["SERVER_SERVED_BY"].startswith("http-fork/{{.Node.Hostname}}/")


def test_updates_start_first_unless_a_host_port_is_held(compose):
    stack, _ = render(compose, options())
    fork, nginx = stack["services"]["http-fork"], stack["services"]["nginx"]
    assert fork["deploy"]["update_config"]["order"] == "start-first"
    assert fork["deploy"]["update_config"]["failure_action"] == "rollback"
    assert nginx["deploy"]["update_config"]["order"] == "stop-first"
    assert nginx["deploy"]["placement"]["constraints"] == ["node.labels.edge == true"]
    ports = {(p["published"], p["protocol"], p["mode"]) for p in nginx["ports"]}
    assert (8080, "tcp", "host") in ports and (7000, "udp", "host") in ports
    assert {p["published"] for p in nginx["ports"]} >= set(range(30000, 30020))


def test_servers_serve_on_after_term_until_nginx_has_dropped_them(compose):
    stack, _ = render(compose, options())
    for name, svc in stack["services"].items():
        if name.startswith(("http-", "ftp-", "echo-")):
            assert svc["environment"]["SERVER_DRAIN_DELAY"] == str(DRAIN_DELAY), name
            assert svc["stop_grace_period"] == f"{15 + DRAIN_DELAY}s", name  # compose's 15 s
        else:
            assert "SERVER_DRAIN_DELAY" not in (svc.get("environment") or {}), name
    compose["services"]["http-fork"]["stop_grace_period"] = "1m30s"
    stack, _ = render(compose, options())
    assert stack["services"]["http-fork"]["stop_grace_period"] == f"{90 + DRAIN_DELAY}s"
    compose["services"]["http-fork"]["stop_grace_period"] = "soon"
    with pytest.raises(DeployError, match=r"http-fork.stop_grace_period: cannot read 'soon'"):
        render(compose, options())


def test_endpoint_mode_library_masquerade_and_health(compose):
    opts = options(
        endpoint_mode="vip",
        library="/srv/lib",
        public_address="192.0.2.10",
        healthcheck={"interval": "3s"},
    )
    stack, _ = render(compose, opts)
    ftp = stack["services"]["ftp-fork"]
    assert ftp["deploy"]["endpoint_mode"] == "vip"
    assert ftp["environment"]["SERVER_MASQUERADE"] == "192.0.2.10"
    assert ftp["healthcheck"]["interval"] == "3s"
    assert stack["volumes"]["library"]["driver_opts"]["device"] == "/srv/lib"
    assert stack["networks"]["backend"] == {"driver": "overlay", "internal": True}


def test_monitoring_runs_prometheus_once_on_the_edge(compose):
    stack, files = render(compose, options(monitoring=Monitoring(port=9191, retention="2d")))
    for name in ("prometheus", "nginx-exporter"):
        svc = stack["services"][name]
        assert svc["image"] == "sha256:" + "c" * 64
        assert svc["deploy"]["replicas"] == 1
        assert svc["deploy"]["placement"]["constraints"] == ["node.labels.edge == true"]
        assert "ports" not in svc  # Swarm would publish it on every address of the node
    prometheus = stack["services"]["prometheus"]
    assert prometheus["stop_grace_period"] == "10s"  # as Swarm would write it on an update
    assert stack["services"]["nginx"]["stop_grace_period"] == "20s"  # compose's
    assert prometheus["deploy"]["update_config"]["order"] == "stop-first"  # one TSDB lock
    assert prometheus["volumes"] == ["prometheus:/prometheus"]
    assert "prometheus" in stack["volumes"]
    command = prometheus["command"]
    assert "--config.file=/etc/prometheus/swarm.yml" in command
    assert "--storage.tsdb.retention.time=2d" in command
    assert "--web.console.templates=/etc/prometheus/cluster/consoles" in command  # status page
    assert len([flag for flag in command if flag.startswith("--config.file")]) == 1
    assert prometheus["configs"] == [
        {"source": "prometheus-swarm", "target": "/etc/prometheus/swarm.yml"}
    ]
    assert stack["configs"]["prometheus-swarm"]["name"].startswith("st-prometheus-swarm-")
    nginx = stack["services"]["nginx"]
    assert {"target": 9090, "published": 9191, "protocol": "tcp", "mode": "host"} in nginx["ports"]
    assert {
        "source": "nginx-prometheus",
        "target": "/etc/nginx/cluster/http-prometheus.conf",
    } in nginx["configs"]
    assert files["configs-nginx-prometheus"] == (REPO / "deploy/nginx-prometheus.conf").read_bytes()
    assert "allow @node_gateway;" in files["configs-nginx-prometheus"].decode()


def test_monitoring_finds_tasks_and_keeps_compose_rules(compose):
    _, files = render(compose, options(monitoring=Monitoring()))
    swarm = yaml.safe_load(files["configs-prometheus-swarm"])
    cluster = yaml.safe_load((REPO / "monitoring/prometheus.yml").read_text())
    assert swarm["rule_files"] == cluster["rule_files"]  # the image's rules, as compose's
    jobs = {job["job_name"]: job for job in swarm["scrape_configs"]}
    assert set(jobs) == {job["job_name"] for job in cluster["scrape_configs"]}
    http = jobs["http"]["dns_sd_configs"][0]
    assert http["names"][0] == "tasks.http-fork" and http["type"] == "A"
    assert jobs["echo"]["dns_sd_configs"][0]["names"] == ["tasks.echo-tcp", "tasks.echo-udp"]
    relabel = jobs["ftp"]["relabel_configs"]
    assert relabel == [
        {"source_labels": ["__meta_dns_name"], "regex": r"tasks\.(.+)", "target_label": "service"}
    ]  # `service` is compose's name, as the rules and the status page expect
    assert jobs["nginx"] == next(j for j in cluster["scrape_configs"] if j["job_name"] == "nginx")


def test_bad_input_is_one_clear_error(compose):
    with pytest.raises(DeployError, match="replicas for unknown service"):
        render(compose, options(replicas={"nope": 2}))
    with pytest.raises(DeployError, match="1 at most"):
        render(compose, options(replicas={"ftp-fork": 2}))
    with pytest.raises(DeployError, match="replicas for prometheus: 1"):
        render(compose, options(replicas={"prometheus": 2}, monitoring=Monitoring()))
    with pytest.raises(DeployError, match="replicas for unknown service"):  # not without it
        render(compose, options(replicas={"prometheus": 1}))
    opts = options()
    del opts.images[NGINX]
    with pytest.raises(DeployError, match="no image for"):
        render(compose, opts)


INVENTORY = """
[hosts.m1]
ssh = "m1.example.org"
address = "192.0.2.11"
roles = ["manager"]
labels = { edge = "true" }
[hosts.w1]
ssh = "w1.example.org"
roles = ["worker"]
[swarm]
stack = "prod"
replicas = { http-fork = 4 }
"""


def test_inventory(tmp_path):
    path = tmp_path / "inv.toml"
    path.write_text(INVENTORY)
    inv = config.load(path)
    assert [str(n) for n in inv.managers] == ["m1"]
    assert inv.nodes["m1"].labels == {"edge": "true"}
    assert inv.settings.replicas == {"http-fork": 4}
    assert inv.settings.endpoint_mode == "auto"
    assert inv.compose == tmp_path / "compose.yaml"
    assert inv.monitoring is None
    path.write_text(INVENTORY + '[monitoring]\nretention = "1d"\n')
    assert config.load(path).monitoring == Monitoring(port=9090, retention="1d")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('roles = ["manager"]', 'roles = ["worker"]', "no host with roles"),
        ('roles = ["manager"]', 'roles = ["boss"]', "roles: one of"),
        ('stack = "prod"', 'endpoint_mode = "ipvs"', "endpoint_mode"),
        ("replicas = { http-fork = 4 }", 'healthcheck = { every = "1s" }', "healthcheck.every"),
        ("replicas = { http-fork = 4 }", "replicas = { http-fork = -1 }", "whole numbers"),
        ("replicas = { http-fork = 4 }", "[monitoring]\nport = 0", "monitoring.port: 1-65535"),
        ("replicas = { http-fork = 4 }", '[monitoring]\nlisten = "x"', "monitoring.listen"),
    ],
)
def test_inventory_errors(tmp_path, old, new, message):
    path = tmp_path / "inv.toml"
    path.write_text(INVENTORY.replace(old, new))
    with pytest.raises(InventoryError, match=message):
        config.load(path)


def test_the_example_inventory_loads_with_its_monitoring_table_uncommented(tmp_path):
    text = (REPO / "deploy/swarm/inventory.example.toml").read_text()
    table = re.sub(r"^# ", "", text[text.index("# [monitoring]") :], flags=re.MULTILINE)
    path = tmp_path / "inv.toml"
    path.write_text(text[: text.index("# [monitoring]")] + table)
    assert config.load(path).monitoring == Monitoring()


def test_image_override_names_a_compose_image(tmp_path):
    from deploy.tasks.swarm import _images

    path = tmp_path / "inv.toml"
    path.write_text(f'root = "{REPO}"\n' + INVENTORY)
    with pytest.raises(DeployError, match=r"NAME=REF with NAME one of server, nginx$"):
        _images(config.load(path), ["postgres=pg:16"], build=False)
    path.write_text(f'root = "{REPO}"\n' + INVENTORY + "[monitoring]\n")
    with pytest.raises(DeployError, match=r"one of server, nginx, prometheus$"):
        _images(config.load(path), ["postgres=pg:16"], build=False)
    with pytest.raises(DeployError, match="NAME=REF"):
        _images(config.load(path), ["server"], build=False)
