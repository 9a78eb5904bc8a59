"""The deploy's FTP, TCP and UDP services without Docker or SSH: the inventory's passive-port
layout and checks, the balancer's stream block, what the deploy sets in the containers."""

from __future__ import annotations

import pytest
from inventories import MINIMAL, STREAMS, FakeRemote, container, parse

from deploy import balancer, wiring
from deploy.errors import DeployError, InventoryError
from deploy.fleet import Fleet, HostState


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
        "web": [("192.0.2.1", 8081)],
        "ftp": [("192.0.2.1", 2122), ("192.0.2.2", 2121)],
        "echo-tcp": [("192.0.2.1", 7001)],
        "echo-udp": [("192.0.2.2", 7002)],
    }
    # a's old version (slot 2121) still drains: its passive ports stay forwarded
    forwards = {"ftp": [("192.0.2.1", 40005, 40009), ("192.0.2.2", 40010, 40014),
                        ("192.0.2.1", 40000, 40004)]}  # fmt: skip
    config = balancer.render(inv, upstreams, forwards)
    http, stream = config.split("\nstream {")
    assert "proxy_pass http://web;" in http and "ftp" not in http
    assert "include /etc/nginx/modules-enabled/*.conf;" in http  # the stream module
    assert "upstream ftp {\n        least_conn;\n        server 192.0.2.1:2122 " in stream
    assert "listen 21;\n        proxy_pass ftp;" in stream
    assert "listen 7000;\n        proxy_pass echo-tcp;" in stream
    assert "listen 7000 udp;\n        proxy_pass echo-udp;\n        proxy_responses 1;" in stream
    listens = [line.strip() for line in stream.splitlines() if "listen 400" in line]
    assert listens == ["listen 40000-40004;", "listen 40005-40009;", "listen 40010-40014;"]
    assert "proxy_pass 192.0.2.2:$server_port;" in stream
    assert "resolver" not in stream and "proxy_protocol" not in stream
    assert balancer.members(config) == {
        ("192.0.2.1", 8081), ("192.0.2.1", 2122), ("192.0.2.2", 2121), ("192.0.2.1", 7001),
        ("192.0.2.2", 7002),
    }  # fmt: skip
    only_http = balancer.render(parse(MINIMAL, tmp_path), {"web": []})
    assert "stream {" not in only_http


def test_proxy_protocol_for_ftp_and_tcp_with_the_servers_told_whom_to_trust(tmp_path):
    lb = 'ssh = "lb.example.org"'
    text = STREAMS.replace(lb, lb + '\naddress = "192.0.2.9"')
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
        "SERVER_FORWARDED_ALLOW_IPS": "127.0.0.1,::1,192.0.2.9",
    }
    assert wiring.wired_env(inv, inv.services["echo-udp"], a, 7001) == {}  # UDP: no header
    assert wiring.wired_env(inv, inv.services["web"], a, 8081) == {}  # X-Forwarded-For
    config = balancer.render(inv, {}, {"ftp": [("192.0.2.1", 40005, 40009)]})
    stream = config.split("\nstream {")[1]
    on = [block.split("proxy_pass ")[1].split(";")[0] for block in stream.split("server {")[1:]
          if "proxy_protocol on;" in block]  # fmt: skip
    assert on == ["ftp", "echo-tcp", "192.0.2.1:$server_port"]
    with pytest.raises(InventoryError, match=r"env\.SERVER_PROXY_PROTOCOL: the deploy sets it"):
        parse(text.replace("[services.ftp.env]", '[services.ftp.env]\nSERVER_PROXY_PROTOCOL = "1"')
              + "proxy_protocol = true\n", tmp_path)  # fmt: skip
    with pytest.raises(InventoryError, match=r"hosts\.lb\.address must be an IP address"):
        parse(STREAMS + "proxy_protocol = true\n", tmp_path)


def test_overlapping_passive_forwards_are_refused_with_a_reason(tmp_path):
    inv = parse(STREAMS, tmp_path)
    forwards = {"ftp": [("192.0.2.1", 40000, 40004), ("192.0.2.2", 40004, 40008)]}
    overlap = r"ftp: passive ports 40000-40004 on 192\.0\.2\.1 overlap"
    with pytest.raises(DeployError, match=overlap):
        balancer.render(inv, {}, forwards)


def test_names_as_addresses_need_a_resolver(tmp_path):
    named = STREAMS.replace('address = "192.0.2.2"', 'address = "b.internal"')
    with pytest.raises(InventoryError, match=r"hosts\.b\.address is a name.*balancer\.resolver"):
        parse(named, tmp_path)
    inv = parse(named + 'resolver = "192.0.2.53"\n', tmp_path)
    config = balancer.render(inv, {}, {"ftp": [("b.internal", 40010, 40014)]})
    assert "resolver 192.0.2.53 valid=30s ipv6=off;" in config
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
        'ssh = "lb.example.org"', 'ssh = "lb.example.org"\naddress = "192.0.2.3"'
    )
    with pytest.raises(InventoryError, match=r"hosts\.lb would use a port twice: tcp 40020"):
        parse(text.replace("listen = 80", "listen = 81"), tmp_path)


def test_forwards_keep_a_draining_ftp_version_until_it_stops(tmp_path):
    inv = parse(STREAMS, tmp_path)
    live, old = container("new", 2122), container("old", 2121)
    live.labels.update({"deploy.service": "ftp", "deploy.passive": "40005-40009"})
    old.labels.update({"deploy.service": "ftp", "deploy.passive": "40000-40004"})
    assert live.passive == (40005, 40009) and container("x", 1).passive is None
    fleet = Fleet(inv)
    fleet.hosts["a"] = HostState(FakeRemote(inv.hosts["a"], []), live={"ftp": live})
    assert fleet.forwards() == {"ftp": [("192.0.2.1", 40005, 40009)]}
    fleet.hosts["a"].stale["ftp"] = [old]  # rollout.roll: switched, not stopped yet
    assert fleet.forwards() == {"ftp": [("192.0.2.1", 40005, 40009), ("192.0.2.1", 40000, 40004)]}
