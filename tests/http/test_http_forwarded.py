"""X-Forwarded-For: believed only from trusted proxies; the client is the right-most
untrusted hop."""

from __future__ import annotations

import pytest

from server.errors import ConfigError
from server.net.trusted import TrustedPeers
from server.protocols.http.forwarded import apply_forwarded
from server.protocols.http.request import Request


def request_from(peer, forwarded=None, proto=None) -> Request:
    headers = {}
    if forwarded is not None:
        headers["x-forwarded-for"] = forwarded
    if proto is not None:
        headers["x-forwarded-proto"] = proto
    request = Request("GET", "/", "HTTP/1.1", headers)
    request.peer = peer
    request.remote_addr = peer[0] if peer else ""
    return request


@pytest.mark.parametrize(
    ("spec", "peer", "forwarded", "proto", "remote", "scheme"),
    [
        ("127.0.0.1", ("127.0.0.1", 1), "203.0.113.5", "https", "203.0.113.5", "https"),
        ("127.0.0.1", ("198.51.100.3", 1), "203.0.113.5", "https", "198.51.100.3", "http"),
        (
            "198.51.100.0/24",
            ("198.51.100.3", 1),
            "192.0.2.1, 198.51.100.9",
            None,
            "192.0.2.1",
            "http",
        ),
        ("198.51.100.0/24", ("198.51.100.3", 1), "192.0.2.1, 192.0.2.2", None, "192.0.2.2", "http"),
        ("198.51.100.0/24", ("198.51.100.3", 1), "198.51.100.5", None, "198.51.100.5", "http"),
        ("*", ("192.0.2.8", 1), "192.0.2.9", "HTTPS", "192.0.2.9", "https"),
        ("*", ("192.0.2.8", 1), None, "gopher", "192.0.2.8", "http"),
        ("::1", ("::1", 1, 0, 0), "2001:db8::1", None, "2001:db8::1", "http"),
        ("127.0.0.0/8", ("::ffff:127.0.0.1", 1, 0, 0), "192.0.2.5", None, "192.0.2.5", "http"),
        ("unix", None, "192.0.2.5", None, "192.0.2.5", "http"),
        ("127.0.0.1", None, "192.0.2.5", None, "", "http"),
        ("", ("127.0.0.1", 1), "192.0.2.5", None, "127.0.0.1", "http"),
    ],
)
def test_trust(spec, peer, forwarded, proto, remote, scheme):
    request = request_from(peer, forwarded, proto)
    apply_forwarded(TrustedPeers(spec), request)
    assert (request.remote_addr, request.scheme) == (remote, scheme)


@pytest.mark.parametrize("spec", ["not-an-ip", "198.51.100.0/99", "1.2.3.4.5"])
def test_bad_specs_are_config_errors(spec):
    with pytest.raises(ConfigError, match="forwarded-allow-ips"):
        TrustedPeers(spec)


def test_empty_spec_is_false():
    assert not TrustedPeers("")
    assert TrustedPeers("127.0.0.1")
