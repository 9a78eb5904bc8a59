"""Inventories for the deploy's unit tests, a parser of their text, and fake containers."""

from __future__ import annotations

from pathlib import Path

from deploy import inventory
from deploy.remote import Container

MINIMAL = """
[hosts.a]
ssh = "a.example.org"
roles = ["app"]
[hosts.b]
ssh = "b.example.org"
roles = ["lb"]
[services.web]
roles = ["app"]
image = "img"
ports = [8081, 8082]
listen = 80
[balancer]
image = "nginx-img"
"""


def parse(text: str, tmp_path: Path) -> inventory.Inventory:
    path = tmp_path / "inventory.toml"
    path.write_text(text)
    return inventory.load(path)


STREAMS = """
[hosts.a]
ssh = "a.example.org"
address = "192.0.2.1"
roles = ["app"]
[hosts.b]
ssh = "b.example.org"
address = "192.0.2.2"
roles = ["app"]
[hosts.lb]
ssh = "lb.example.org"
roles = ["lb"]
[services.web]
roles = ["app"]
image = "img"
ports = [8081, 8082]
listen = 80
[services.ftp]
kind = "ftp"
roles = ["app"]
image = "img"
ports = [2121, 2122]
listen = 21
passive = { start = 40000, per_slot = 5 }
[services.ftp.env]
SERVER_MODEL = "thread"
[services.echo-tcp]
kind = "tcp"
roles = ["app"]
image = "img"
ports = [7001, 7002]
listen = 7000
[services.echo-udp]
kind = "udp"
roles = ["app"]
image = "img"
ports = [7001, 7002]
listen = 7000
[balancer]
image = "nginx-img"
public_address = "203.0.113.10"
"""


def container(name: str, port: int, running: bool = True) -> Container:
    """A container of service `web` as Docker would describe it (its labels can be changed)."""
    labels = {"deploy.service": "web", "deploy.port": str(port)}
    return Container(name, "sha256:" + "0" * 64, running, "healthy", port, "v", labels)


class FakeRemote:
    """A host whose Docker holds `found` (newest first)."""

    def __init__(self, host, found):
        self.host, self.found = host, found

    def containers(self, project):
        return self.found
