"""StaticFiles without a server: the jail, types, index, listing, HEAD and the send path."""

from __future__ import annotations

import os

import pytest

from server.protocols.http.errors import HTTPError
from server.protocols.http.request import Request
from server.protocols.http.static import SMALL_FILE, StaticFiles


@pytest.fixture
def root(tmp_path):
    base = tmp_path / "root"
    (base / "dir").mkdir(parents=True)
    (base / "a.txt").write_text("a")
    (base / "page.html").write_text("<p>")
    (base / "noext").write_bytes(b"\x00")
    (base / "big.bin").write_bytes(os.urandom(SMALL_FILE + 1))
    (tmp_path / "secret").write_text("s")
    os.symlink(tmp_path / "secret", base / "out")
    os.mkfifo(base / "fifo")
    return base


def respond(root, target, method="GET", headers=None, listing=False):
    request = Request(method, target, "HTTP/1.1", headers or {})
    return StaticFiles(str(root), listing).respond(request)


@pytest.mark.parametrize(
    ("target", "status"),
    [
        ("/../secret", 403),
        ("/%2e%2e/secret", 403),
        ("/dir/..%2f..%2fsecret", 403),
        ("/out", 403),
        ("/a.txt%00", 403),
        ("/a%5c..%5csecret", 403),
        ("/fifo", 403),
        ("/nothing", 404),
        ("/a.txt/more", 404),
        ("/dir/", 403),  # no index, listing off
        ("/%ff", 400),  # not UTF-8 once decoded
    ],
)
def test_refusals(root, target, status):
    with pytest.raises(HTTPError) as raised:
        respond(root, target)
    assert raised.value.code == status


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("a.txt", "text/plain; charset=utf-8"),
        ("page.html", "text/html; charset=utf-8"),
        ("noext", "application/octet-stream"),
    ],
)
def test_types(root, name, content_type):
    response = respond(root, "/" + name)
    assert ("Content-Type", content_type) in response.headers


def test_small_files_are_read_and_large_ones_sent_from_the_file(root):
    small = respond(root, "/a.txt")
    assert small.body == b"a" and small.file is None
    large = respond(root, "/big.bin")
    assert large.body is None and large.count == SMALL_FILE + 1
    large.finish()
    assert large.file.closed


def test_head_opens_nothing(root):
    response = respond(root, "/big.bin", "HEAD")
    assert response.body == b"" and response.length == SMALL_FILE + 1 and response.file is None


def test_methods_other_than_get_and_head(root):
    with pytest.raises(HTTPError) as raised:
        respond(root, "/a.txt", "DELETE")
    assert raised.value.code == 405 and ("Allow", "GET, HEAD") in raised.value.headers


def test_listing_and_index(root):
    listing = respond(root, "/", listing=True)
    assert b'href="a.txt"' in listing.body and b'href="dir/"' in listing.body
    assert b"out" not in listing.body  # a symlink out of the root is not listed
    (root / "dir" / "index.html").write_text("index")
    assert respond(root, "/dir/").body == b"index"
    moved = respond(root, "/dir")
    assert moved.code == 301 and ("Location", "/dir/") in moved.headers


def test_respond_if_file_leaves_other_paths_to_the_app(root):
    static = StaticFiles(str(root))
    assert static.respond_if_file(Request("GET", "/nothing", "HTTP/1.1", {})) is None
    assert static.respond_if_file(Request("GET", "/dir/", "HTTP/1.1", {})) is None
    assert static.respond_if_file(Request("GET", "/a.txt", "HTTP/1.1", {})).body == b"a"
    with pytest.raises(HTTPError):
        static.respond_if_file(Request("GET", "/../secret", "HTTP/1.1", {}))
