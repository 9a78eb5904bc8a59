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
from inventories import MINIMAL, FakeRemote, container, parse

from deploy import balancer, inventory, ssh, transfer
from deploy.errors import InventoryError
from deploy.fleet import HostState
from deploy.remote import chain_ids

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "deploy" / "inventory.example.toml"


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


def test_two_running_versions_resolve_to_the_one_in_rotation(tmp_path):
    inv = parse(MINIMAL, tmp_path)
    newest, older, dead = (
        container("new", 8082),
        container("old", 8081),
        container("x", 1, False),
    )
    state = HostState(FakeRemote(inv.hosts["a"], [newest, older, dead]))
    state.read(inv)  # nothing known about the balancer: the newest
    assert state.live["web"] is newest and state.ambiguous()
    state.read(inv, {("a.example.org", 8081)})  # an interrupted run: the balancer has the old
    assert state.live["web"] is older
    assert [c.name for c in state.stale["web"]] == ["x", "new"]
