"""The deploy's pure parts, without Docker or SSH: inventory checks, nginx rendering, layer
chain IDs, the thin tar, host-key policies and the messages users see."""

from __future__ import annotations

import hashlib
import io
import json
import socket
import subprocess
import sys
import tarfile
from pathlib import Path

import paramiko
import pytest
from deploy_hosts import make_key

from deploy import balancer, inventory, ssh, transfer, wiring
from deploy.errors import DeployError, InventoryError
from deploy.fleet import Fleet, HostState
from deploy.remote import Container, chain_ids

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "deploy" / "inventory.example.toml"

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


def test_the_example_inventory_loads():
    inv = inventory.load(EXAMPLE)
    assert [h.name for h in inv.app_hosts] == ["app1", "app2", "app3"]
    assert [h.name for h in inv.balancer_hosts] == ["lb1"]
    assert inv.hosts["app3"].endpoint == "[app3.example.org]:2222"
    assert inv.hosts["app1"].address == "app1.internal.example.org"
    assert inv.root == REPO
    env = inv.services["http"].environment(
        host="app1", address="x", port=8082, service="http", version="v2", project="server"
    )
    assert env["SERVER_BIND"] == "0.0.0.0:8082" and env["SERVER_SERVED_BY"] == "app1/v2"


def test_defaults(tmp_path):
    inv = parse(MINIMAL, tmp_path)
    assert inv.hosts["a"].address == "a.example.org"  # the balancer uses the ssh name
    assert inv.hosts["a"].ssh.port == 22 and inv.hosts["a"].ssh.user == "deploy"
    assert inv.balancer.roles == ("lb",) and inv.settings.project == "server"
    assert inv.select("a") == [inv.hosts["a"]]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("[balancer]", "[balancer]\ncolour = 1"), "unknown key balancer.colour"),
        (("ports = [8081, 8082]", "ports = [8081]"), "services.web.ports: two different"),
        (("ports = [8081, 8082]", "ports = [8081, 8081]"), "services.web.ports: two different"),
        (('roles = ["lb"]', 'roles = ["db"]'), "no host has a role of the balancer"),
        (('image = "img"', "image = 3"), "services.web.image has the wrong type"),
        (('ssh = "a.example.org"\n', ""), "hosts.a.ssh is required"),
        (("listen = 80", "listen = 8081"), None),  # fine: a and b are different hosts
        (("[hosts.a]", "[hosts.A]"), "'A' is not a name"),
    ],
)
def test_inventory_mistakes_are_one_line(tmp_path, change, message):
    text = MINIMAL.replace(*change)
    if message is None:
        parse(text, tmp_path)
        return
    with pytest.raises(InventoryError, match=message) as err:
        parse(text, tmp_path)
    assert "\n" not in str(err.value)


def test_a_port_used_twice_on_one_host(tmp_path):
    text = MINIMAL.replace('roles = ["lb"]', 'roles = ["lb", "app"]').replace(
        "listen = 80", "listen = 8082"
    )
    with pytest.raises(InventoryError, match=r"hosts\.b would use a port twice"):
        parse(text, tmp_path)


def test_missing_inventory_and_bad_placeholder(tmp_path):
    with pytest.raises(InventoryError, match=r"no inventory at .*deploy/inventory\.example\.toml"):
        inventory.load(tmp_path / "nope.toml")
    inv = parse(MINIMAL + '[services.web.env]\nX = "{hots}"\n', tmp_path)
    with pytest.raises(InventoryError, match=r"services.web.env.X: bad placeholder 'hots'"):
        inv.services["web"].environment(host="a", port=1)
    with pytest.raises(InventoryError, match="unknown host"):
        inv.select("a,zz")


def test_render_lists_live_hosts_and_parses_back(tmp_path):
    inv = parse(MINIMAL, tmp_path)
    config = balancer.render(inv, {"web": [("a.example.org", 8082)]})
    assert "server a.example.org:8082 max_fails=3" in config
    assert "listen 80;" in config and "proxy_pass http://web;" in config
    assert "listen 127.0.0.1:8079;" in config  # the image's HEALTHCHECK reads stub_status here
    assert "$http_host" in config  # nginx variables survive the template
    assert balancer.members(config) == {("a.example.org", 8082)}
    empty = balancer.render(inv, {"web": []})
    assert "down; # no host is live yet" in empty  # nginx wants at least one server


STREAMS = """
[hosts.a]
ssh = "a.example.org"
address = "10.0.0.1"
roles = ["app"]
[hosts.b]
ssh = "b.example.org"
address = "10.0.0.2"
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


def test_passive_ports_are_laid_out_per_host_and_slot(tmp_path):
    inv = parse(STREAMS, tmp_path)
    ftp, a, b = inv.services["ftp"], inv.hosts["a"], inv.hosts["b"]
    assert (
        ftp.kind == "ftp" and ftp.protocol == "tcp" and inv.services["echo-udp"].protocol == "udp"
    )
    ranges = [inv.passive_range(ftp, host, slot) for host in (a, b) for slot in ftp.ports]
    assert ranges == [(40000, 40004), (40005, 40009), (40010, 40014), (40015, 40019)]


def test_render_streams_ftp_echo_and_passive_forwards(tmp_path):
    inv = parse(STREAMS, tmp_path)
    upstreams = {
        "web": [("10.0.0.1", 8081)],
        "ftp": [("10.0.0.1", 2122), ("10.0.0.2", 2121)],
        "echo-tcp": [("10.0.0.1", 7001)],
        "echo-udp": [("10.0.0.2", 7002)],
    }
    # a's old version (slot 2121) still drains: its passive ports stay forwarded
    forwards = {"ftp": [("10.0.0.1", 40005, 40009), ("10.0.0.2", 40010, 40014),
                        ("10.0.0.1", 40000, 40004)]}  # fmt: skip
    config = balancer.render(inv, upstreams, forwards)
    http, stream = config.split("\nstream {")
    assert "proxy_pass http://web;" in http and "ftp" not in http
    assert "include /etc/nginx/modules-enabled/*.conf;" in http  # the stream module
    assert "upstream ftp {\n        least_conn;\n        server 10.0.0.1:2122 " in stream
    assert "listen 21;\n        proxy_pass ftp;" in stream
    assert "listen 7000;\n        proxy_pass echo-tcp;" in stream
    assert "listen 7000 udp;\n        proxy_pass echo-udp;\n        proxy_responses 1;" in stream
    listens = [line.strip() for line in stream.splitlines() if "listen 400" in line]
    assert listens == ["listen 40000-40004;", "listen 40005-40009;", "listen 40010-40014;"]
    assert "proxy_pass 10.0.0.2:$server_port;" in stream
    assert "resolver" not in stream and "proxy_protocol" not in stream
    assert balancer.members(config) == {
        ("10.0.0.1", 8081), ("10.0.0.1", 2122), ("10.0.0.2", 2121), ("10.0.0.1", 7001),
        ("10.0.0.2", 7002),
    }  # fmt: skip
    only_http = balancer.render(parse(MINIMAL, tmp_path), {"web": []})
    assert "stream {" not in only_http


def test_proxy_protocol_for_ftp_and_tcp_with_the_servers_told_whom_to_trust(tmp_path):
    text = STREAMS.replace('ssh = "lb.example.org"', 'ssh = "lb.example.org"\naddress = "10.0.0.9"')
    plain = parse(text, tmp_path)
    ftp, a = plain.services["ftp"], plain.hosts["a"]
    assert wiring.wired_env(plain, ftp, a, 2122) == {
        "SERVER_PASSIVE_PORTS": "40005-40009",
        "SERVER_MASQUERADE": "203.0.113.10",
    }
    inv = parse(text + "proxy_protocol = true\n", tmp_path)
    assert wiring.wired_env(inv, ftp, a, 2122) == {
        "SERVER_PASSIVE_PORTS": "40005-40009",
        "SERVER_MASQUERADE": "203.0.113.10",
        "SERVER_PROXY_PROTOCOL": "1",
        "SERVER_FORWARDED_ALLOW_IPS": "127.0.0.1,::1,10.0.0.9",
    }
    assert wiring.wired_env(inv, inv.services["echo-udp"], a, 7001) == {}  # UDP: no header
    assert wiring.wired_env(inv, inv.services["web"], a, 8081) == {}  # X-Forwarded-For
    config = balancer.render(inv, {}, {"ftp": [("10.0.0.1", 40005, 40009)]})
    stream = config.split("\nstream {")[1]
    on = [block.split("proxy_pass ")[1].split(";")[0] for block in stream.split("server {")[1:]
          if "proxy_protocol on;" in block]  # fmt: skip
    assert on == ["ftp", "echo-tcp", "10.0.0.1:$server_port"]
    with pytest.raises(InventoryError, match=r"env\.SERVER_PROXY_PROTOCOL: the deploy sets it"):
        parse(text.replace("[services.ftp.env]", '[services.ftp.env]\nSERVER_PROXY_PROTOCOL = "1"')
              + "proxy_protocol = true\n", tmp_path)  # fmt: skip
    with pytest.raises(InventoryError, match=r"hosts\.lb\.address must be an IP address"):
        parse(STREAMS + "proxy_protocol = true\n", tmp_path)


def test_overlapping_passive_forwards_are_refused_with_a_reason(tmp_path):
    inv = parse(STREAMS, tmp_path)
    forwards = {"ftp": [("10.0.0.1", 40000, 40004), ("10.0.0.2", 40004, 40008)]}
    with pytest.raises(DeployError, match=r"ftp: passive ports 40000-40004 on 10\.0\.0\.1 overlap"):
        balancer.render(inv, {}, forwards)


def test_names_as_addresses_need_a_resolver(tmp_path):
    named = STREAMS.replace('address = "10.0.0.2"', 'address = "b.internal"')
    with pytest.raises(InventoryError, match=r"hosts\.b\.address is a name.*balancer\.resolver"):
        parse(named, tmp_path)
    inv = parse(named + 'resolver = "10.0.0.53"\n', tmp_path)
    config = balancer.render(inv, {}, {"ftp": [("b.internal", 40010, 40014)]})
    assert "resolver 10.0.0.53 valid=30s ipv6=off;" in config
    assert "proxy_pass b.internal:$server_port;" in config


ECHO_TCP_PORTS = "ports = [7001, 7002]\nlisten = 7000\n[services.echo-udp]"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("passive = { start = 40000, per_slot = 5 }\n", ""),
         r"services\.ftp\.passive is required"),
        (("per_slot = 5", "per_slot = 0"), r"services\.ftp\.passive\.per_slot must be at least 1"),
        (("start = 40000", "start = 65530"), r"need ports 65530-65549, outside 1024-65535"),
        (("start = 40000,", "begin = 1,"), r"unknown key services\.ftp\.passive\.begin"),
        (('kind = "tcp"', 'kind = "sctp"'), r"services\.echo-tcp\.kind: 'sctp' is not one of"),
        (('public_address = "203.0.113.10"\n', ""),
         r"balancer\.public_address is required for FTP"),
        (('SERVER_MODEL = "thread"', 'SERVER_MASQUERADE = "x"'),
         r"env\.SERVER_MASQUERADE: the deploy sets it"),
        (('kind = "udp"', 'kind = "tcp"'),
         r"two services listen .*: tcp 7000 \(services\.echo-tcp"),
        (("listen = 21", "listen = 40012"), r"hosts\.lb would use a port twice: tcp 40012 \("),
        ((ECHO_TCP_PORTS, ECHO_TCP_PORTS.replace("7001,", "40003,")),
         r"hosts\.a would use a port twice: tcp 40003 \(services\.ftp\.passive 40000-40004 "
         r"\(a, slot 2121\) and services\.echo-tcp\.ports\)"),
    ],
)  # fmt: skip
def test_stream_inventory_mistakes(tmp_path, change, message):
    text = STREAMS.replace(*change)
    assert text != STREAMS
    with pytest.raises(InventoryError, match=message) as err:
        parse(text, tmp_path)
    assert "\n" not in str(err.value)


def test_an_lb_that_also_runs_ftp_would_listen_on_its_own_passive_ports(tmp_path):
    text = STREAMS.replace('roles = ["lb"]', 'roles = ["lb", "app"]').replace(
        'ssh = "lb.example.org"', 'ssh = "lb.example.org"\naddress = "10.0.0.3"'
    )
    with pytest.raises(InventoryError, match=r"hosts\.lb would use a port twice: tcp 40020"):
        parse(text.replace("listen = 80", "listen = 81"), tmp_path)


def test_chain_ids():
    a, b = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    second = "sha256:" + hashlib.sha256(f"{a} {b}".encode()).hexdigest()
    assert chain_ids([a, b]) == [a, second]
    assert chain_ids([]) == []


def _tar(members: dict[str, bytes | str]) -> tarfile.TarFile:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            if isinstance(content, str):  # a symlink's target
                info.type, info.linkname = tarfile.SYMTYPE, content
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    data.seek(0)
    return tarfile.open(fileobj=data)


class _Sink(io.BytesIO):
    def flush(self):  # transfer flushes its writer at the end
        pass


def test_thin_tar_leaves_out_skipped_layers_but_not_a_kept_links_target():
    source = _tar(
        {
            "a/layer.tar": b"A" * 2000,
            "b/layer.tar": b"B" * 10,
            "c/layer.tar": "../a/layer.tar",
            "d/layer.tar": b"D" * 10,
            "manifest.json": json.dumps([{"Layers": []}]).encode(),
        }
    )
    sink = _Sink()
    transfer._copy_tar(source, sink, {"a/layer.tar", "b/layer.tar"})
    with tarfile.open(fileobj=io.BytesIO(sink.getvalue())) as out:
        names = out.getnames()
        assert "b/layer.tar" not in names
        assert "a/layer.tar" in names  # c/layer.tar links to it
        assert out.extractfile("d/layer.tar").read() == b"D" * 10
        assert "manifest.json" in names


def test_unknown_host_keys_are_refused_or_recorded(tmp_path):
    key = paramiko.Ed25519Key.from_private_key_file(str(_keyfile(tmp_path)))
    client = paramiko.SSHClient()
    with pytest.raises(ssh.UnknownHostKey):
        ssh.RefuseUnknown().missing_host_key(client, "[h]:2222", key)
    known = tmp_path / "sub" / "known_hosts"
    ssh.AcceptNew(known).missing_host_key(client, "[h]:2222", key)
    assert known.read_text() == f"[h]:2222 ssh-ed25519 {key.get_base64()}\n"
    assert client.get_host_keys().lookup("[h]:2222")["ssh-ed25519"] == key
    fingerprint = ssh.fingerprint(key)
    assert fingerprint.startswith("SHA256:") and len(fingerprint) == 7 + 43


def _keyfile(tmp_path: Path) -> Path:
    return make_key(tmp_path)[0]


@pytest.mark.parametrize(
    ("exc", "words"),
    [
        (paramiko.SSHException("Error reading SSH protocol banner"), "no SSH handshake within 5"),
        (paramiko.SSHException("No existing session"), "host down or hung"),
        (paramiko.AuthenticationException("no"), "authentication as deploy"),
        (socket.gaierror(-2, "Name or service not known"), "does not resolve"),
        (TimeoutError(), "no answer within 5 s"),
        (
            paramiko.ssh_exception.NoValidConnectionsError({("127.0.0.1", 22): OSError()}),
            "connection refused",
        ),
    ],
)
def test_ssh_failures_read_as_one_line(exc, words, tmp_path):
    host = inventory.Host("h", "h.example.org", "h", ("app",), inventory.Ssh(connect_timeout=5))
    message = ssh.describe(exc, host, tmp_path / "known_hosts")
    assert words in message and "\n" not in message


def test_fab_lists_the_tasks_and_fails_cleanly_without_an_inventory(tmp_path):
    listed = subprocess.run(
        [sys.executable, "-m", "fabric", "--list"], cwd=REPO, capture_output=True, text=True
    )
    assert listed.returncode == 0, listed.stderr
    for name in ("deploy", "rollback", "status", "logs", "check", "teardown"):
        assert f"  {name} " in listed.stdout
    missing = subprocess.run(
        [sys.executable, "-m", "fabric", "deploy", "--inventory", str(tmp_path / "none.toml")],
        cwd=REPO,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert missing.returncode == 1
    assert missing.stderr.strip().startswith("deploy failed: no inventory at ")
    assert "Traceback" not in missing.stderr


def _container(name: str, port: int, running: bool = True) -> Container:
    labels = {"deploy.service": "web", "deploy.port": str(port)}
    return Container(name, "sha256:" + "0" * 64, running, "healthy", port, "v", labels)


class _FakeRemote:
    def __init__(self, host, found):
        self.host, self.found = host, found

    def containers(self, project):
        return self.found


def test_two_running_versions_resolve_to_the_one_in_rotation(tmp_path):
    inv = parse(MINIMAL, tmp_path)
    newest, older, dead = (
        _container("new", 8082),
        _container("old", 8081),
        _container("x", 1, False),
    )
    state = HostState(_FakeRemote(inv.hosts["a"], [newest, older, dead]))
    state.read(inv)  # nothing known about the balancer: the newest
    assert state.live["web"] is newest and state.ambiguous()
    state.read(inv, {("a.example.org", 8081)})  # an interrupted run: the balancer has the old
    assert state.live["web"] is older
    assert [c.name for c in state.stale["web"]] == ["x", "new"]


def test_forwards_keep_a_draining_ftp_version_until_it_stops(tmp_path):
    inv = parse(STREAMS, tmp_path)
    live, old = _container("new", 2122), _container("old", 2121)
    live.labels.update({"deploy.service": "ftp", "deploy.passive": "40005-40009"})
    old.labels.update({"deploy.service": "ftp", "deploy.passive": "40000-40004"})
    assert live.passive == (40005, 40009) and _container("x", 1).passive is None
    fleet = Fleet(inv)
    fleet.hosts["a"] = HostState(_FakeRemote(inv.hosts["a"], []), live={"ftp": live})
    assert fleet.forwards() == {"ftp": [("10.0.0.1", 40005, 40009)]}
    fleet.hosts["a"].stale["ftp"] = [old]  # rollout.roll: switched, not stopped yet
    assert fleet.forwards() == {"ftp": [("10.0.0.1", 40005, 40009), ("10.0.0.1", 40000, 40004)]}
