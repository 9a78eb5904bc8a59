import re

import pytest

from server.errors import ConfigError
from server.net.address import Address, parse_address

GOOD = [
    ("127.0.0.1:8000", Address(host="127.0.0.1", port=8000)),
    ("localhost:0", Address(host="localhost", port=0)),
    (":7000", Address(host="0.0.0.0", port=7000)),
    ("[::1]:8080", Address(host="::1", port=8080)),
    ("[::]:21", Address(host="::", port=21)),
    ("unix:/tmp/s.sock", Address(path="/tmp/s.sock")),
    ("unix:relative.sock", Address(path="relative.sock")),
    (" 192.0.2.1:1 ", Address(host="192.0.2.1", port=1)),
]

BAD = [
    ("127.0.0.1", "expected HOST:PORT"),
    ("127.0.0.1:", "port must be a number"),
    ("127.0.0.1:http", "port must be a number"),
    ("127.0.0.1:65536", "port must be a number"),
    ("127.0.0.1:-1", "port must be a number"),
    ("::1:80", "brackets"),
    ("[::1]80", "expected [IPV6]:PORT"),
    ("unix:", "needs a path"),
]


@pytest.mark.parametrize("text,expected", GOOD)
def test_parses(text, expected):
    assert parse_address(text) == expected


@pytest.mark.parametrize("text,message", BAD)
def test_refuses(text, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_address(text)


@pytest.mark.parametrize("text", ["127.0.0.1:80", "[::1]:80", "unix:/x"])
def test_round_trips_through_str(text):
    assert str(parse_address(text)) == text
