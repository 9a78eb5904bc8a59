"""X-Forwarded-For: believed only from trusted proxies; the client is the right-most
untrusted hop."""

from __future__ import annotations

import pytest

from server.errors import ConfigError
from server.protocols.http.forwarded import TrustedProxies
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
        ("127.0.0.1", ("10.1.2.3", 1), "203.0.113.5", "https", "10.1.2.3", "http"),
        ("10.0.0.0/8", ("10.1.2.3", 1), "1.1.1.1, 10.9.9.9", None, "1.1.1.1", "http"),
        ("10.0.0.0/8", ("10.1.2.3", 1), "1.1.1.1, 2.2.2.2", None, "2.2.2.2", "http"),
        ("10.0.0.0/8", ("10.1.2.3", 1), "10.5.5.5", None, "10.5.5.5", "http"),
        ("*", ("8.8.8.8", 1), "9.9.9.9", "HTTPS", "9.9.9.9", "https"),
        ("*", ("8.8.8.8", 1), None, "gopher", "8.8.8.8", "http"),
        ("::1", ("::1", 1, 0, 0), "2001:db8::1", None, "2001:db8::1", "http"),
        ("127.0.0.0/8", ("::ffff:127.0.0.1", 1, 0, 0), "5.5.5.5", None, "5.5.5.5", "http"),
        ("unix", None, "5.5.5.5", None, "5.5.5.5", "http"),
        ("127.0.0.1", None, "5.5.5.5", None, "", "http"),
        ("", ("127.0.0.1", 1), "5.5.5.5", None, "127.0.0.1", "http"),
    ],
)
def test_trust(spec, peer, forwarded, proto, remote, scheme):
    request = request_from(peer, forwarded, proto)
    TrustedProxies(spec).apply(request)
    assert (request.remote_addr, request.scheme) == (remote, scheme)


@pytest.mark.parametrize("spec", ["not-an-ip", "10.0.0.0/99", "1.2.3.4.5"])
def test_bad_specs_are_config_errors(spec):
    with pytest.raises(ConfigError, match="forwarded-allow-ips"):
        TrustedProxies(spec)


def test_empty_spec_is_false():
    assert not TrustedProxies("")
    assert TrustedProxies("127.0.0.1")
