"""The nginx exporter beside Prometheus on the balancer hosts ([monitoring]), without Docker
or SSH: its arguments, Prometheus' `nginx` job as the status page reads it, and when a deploy
starts the two containers again (only for a new image or new arguments or files)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from inventories import STREAMS, parse

from deploy import monitoring, nginx_exporter
from deploy.fleet import Fleet
from deploy.health import Verdict
from deploy.images import LocalImage

REPO = Path(__file__).resolve().parents[2]  # monitoring/rules.yml
MONITORING = f'root = "{REPO}"\n' + STREAMS + '[monitoring]\nimage = "prom-img"\n'
IMAGE, NEWER = (LocalImage("prom-img", "sha256:" + c * 64, f"p{c}", 1) for c in "cd")


class DockerHost:
    """A balancer host whose Docker runs what it is asked to: container name -> inspect data."""

    def __init__(self, host):
        self.host, self.files, self.containers, self.started = host, {}, {}, []

    def home(self) -> str:
        return "/home/deploy"

    def run(self, command: str, **_) -> None:
        pass

    def put_text(self, text: str, path: str, mode: int | None = None) -> None:
        self.files[path.removesuffix(".next")] = text

    def inspect(self, name: str) -> dict | None:
        return self.containers.get(name)

    def remove(self, name: str) -> None:
        self.containers.pop(name, None)

    def docker(self, *args: str) -> str:
        assert args[:2] == ("run", "-d")
        name = args[args.index("--name") + 1]
        labels = dict(args[i + 1].split("=", 1) for i, a in enumerate(args) if a == "--label")
        image = next(a for a in args if a.startswith("sha256:"))
        self.containers[name] = {
            "State": {"Running": True}, "Image": image, "Config": {"Labels": labels},
            "Args": list(args[args.index(image) + 1 :]), "Options": list(args),
        }  # fmt: skip
        self.started.append(name)
        return name


@pytest.fixture(autouse=True)
def healthy_at_once(monkeypatch):
    monkeypatch.setattr(monitoring, "wait_healthy", lambda *_: Verdict(True, "healthy", 0.1))


def on_balancer(text: str, tmp_path, host: DockerHost | None = None):
    inv = parse(text, tmp_path)
    host = host or DockerHost(inv.hosts["lb"])
    return monitoring.MonitoringHost(host, Fleet(inv)), host


def test_the_exporter_reads_the_balancers_stub_status_and_listens_on_loopback(tmp_path):
    balancer = "[balancer]\nstatus_port = 8070\n"
    mon, host = on_balancer(MONITORING.replace("[balancer]\n", balancer), tmp_path)
    assert mon.ensure(IMAGE) == [
        f"the nginx exporter {IMAGE.version} on 127.0.0.1:9113",
        f"Prometheus {IMAGE.version} on 127.0.0.1:9090",
    ]
    exporter = host.containers["server-nginx-exporter"]
    assert exporter["Args"] == [
        "-nginx.scrape-uri=http://127.0.0.1:8070/stub_status",
        "-web.listen-address=127.0.0.1:9113",
        "-nginx.retries=10",
    ]
    options = exporter["Options"]
    assert options[options.index("--entrypoint") + 1] == "prometheus-nginx-exporter"
    assert options[options.index("--network") + 1] == "host"
    assert exporter["Config"]["Labels"]["deploy.project"] == "server"  # teardown removes it
    probe = options[options.index("--health-cmd") + 1]
    assert "/dev/tcp/127.0.0.1/9113" in probe and "^nginx_up 1" in probe


def test_prometheus_scrapes_the_exporter_as_the_status_page_reads_nginx(tmp_path):
    mon, host = on_balancer(MONITORING + "exporter_port = 9200\n", tmp_path)
    mon.ensure(IMAGE)
    config = yaml.safe_load(host.files[f"{mon.dir}/prometheus.yml"])
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["nginx"]["static_configs"] == [
        {"targets": ["127.0.0.1:9200"], "labels": {"service": "nginx", "host": "lb"}}
    ]  # monitoring/consoles/cluster.html: up{job="nginx"}; compose's job has service="nginx"
    assert set(jobs) == {"replicas", "nginx", "prometheus"}
    assert nginx_exporter.address(mon.inv) == "127.0.0.1:9200"


def test_a_deploy_that_changes_nothing_starts_nothing(tmp_path):
    mon, host = on_balancer(MONITORING, tmp_path)
    mon.ensure(IMAGE)
    assert mon.ensure(IMAGE) == [] and len(host.started) == 2
    again, _ = on_balancer(MONITORING, tmp_path, host)  # the next `fab deploy`
    assert again.ensure(IMAGE) == [] and len(host.started) == 2


@pytest.mark.parametrize(
    ("change", "restarted"),
    [
        ('retention = "1d"\n', ["server-prometheus"]),  # an argument of Prometheus only
        ("exporter_port = 9200\n", ["server-nginx-exporter", "server-prometheus"]),  # + its config
    ],
)
def test_new_arguments_start_that_container_again(tmp_path, change, restarted):
    mon, host = on_balancer(MONITORING, tmp_path)
    mon.ensure(IMAGE)
    changed, _ = on_balancer(MONITORING + change, tmp_path, host)
    changed.ensure(IMAGE)
    assert host.started[2:] == restarted


def test_a_new_image_or_a_stopped_container_starts_it_again(tmp_path):
    mon, host = on_balancer(MONITORING, tmp_path)
    mon.ensure(IMAGE)
    host.containers["server-nginx-exporter"]["State"]["Running"] = False
    assert mon.ensure(IMAGE) == [f"the nginx exporter {IMAGE.version} on 127.0.0.1:9113"]
    assert len(mon.ensure(NEWER)) == 2 and len(host.started) == 5
