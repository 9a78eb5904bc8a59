"""Static files under every model: types, HEAD, validators (304), ranges, listings, and no
byte from outside the root -- with raw sockets, requests and curl."""

from __future__ import annotations

import subprocess

import pytest
import requests
from client import exchange, get, status_of
from conftest import SECRET


def url(http, path: str) -> str:
    return f"http://{http.host}:{http.port}{path}"


def file_bytes(http, name: str) -> bytes:
    return (http.site / "root" / name).read_bytes()


@pytest.mark.parametrize(
    ("path", "content_type", "name"),
    [
        ("/", "text/html; charset=utf-8", "index.html"),
        ("/hello.txt", "text/plain; charset=utf-8", "hello.txt"),
        ("/style.css", "text/css; charset=utf-8", "style.css"),
        ("/data.json", "application/json; charset=utf-8", "data.json"),
        ("/1k.bin", "application/octet-stream", "1k.bin"),
        ("/big.bin", "application/octet-stream", "big.bin"),
        ("/docs/", "text/html; charset=utf-8", "docs/index.html"),
        ("/sub/file%20with%20space.txt", "text/plain; charset=utf-8", "sub/file with space.txt"),
        ("/sub/%C3%BCn%C3%AFcode.txt", "text/plain; charset=utf-8", "sub/ünïcode.txt"),
        ("/link_in", "text/plain; charset=utf-8", "hello.txt"),  # the target names the type
    ],
)
def test_get_file(http, path, content_type, name):
    reply = get(http, path)
    assert reply.status == 200
    assert reply.header("content-type") == content_type
    assert reply.body == file_bytes(http, name)
    assert reply.header("content-length") == str(len(reply.body))
    assert reply.header("server") and reply.header("date")
    assert reply.header("x-served-by") == f"replica-{http.model}"


def test_head_has_length_and_no_body(http):
    size = len(file_bytes(http, "big.bin"))
    reply = get(http, "/big.bin", method="HEAD")
    assert reply.status == 200
    assert reply.header("content-length") == str(size)
    raw, _ = exchange(http, b"HEAD /hello.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert raw.endswith(b"\r\n\r\n")  # the head and nothing after it


def test_browser_sequence_conditional_and_range(http):
    """What a browser does: fetch, revalidate (304 by ETag, then by date), resume a range."""
    data = file_bytes(http, "big.bin")
    with requests.Session() as browser:
        first = browser.get(url(http, "/big.bin"))
        assert first.status_code == 200 and first.content == data
        etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
        again = browser.get(url(http, "/big.bin"), headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["ETag"] == etag
        by_date = browser.get(url(http, "/big.bin"), headers={"If-Modified-Since": modified})
        assert by_date.status_code == 304
        changed = browser.get(url(http, "/big.bin"), headers={"If-None-Match": '"other"'})
        assert changed.status_code == 200 and changed.content == data
        resume = browser.get(
            url(http, "/big.bin"), headers={"Range": "bytes=1000-", "If-Range": etag}
        )
        assert resume.status_code == 206 and resume.content == data[1000:]
        assert resume.headers["Content-Range"] == f"bytes 1000-{len(data) - 1}/{len(data)}"
        stale_range = {"Range": "bytes=0-9", "If-Range": '"x"'}
        stale = browser.get(url(http, "/big.bin"), headers=stale_range)
        assert stale.status_code == 200 and stale.content == data


@pytest.mark.parametrize(
    ("spec", "status", "span"),
    [
        ("bytes=0-9", 206, (0, 10)),
        ("bytes=10-19", 206, (10, 20)),
        ("bytes=-5", 206, (-5, None)),
        ("bytes=1020-", 206, (1020, None)),
        ("bytes=1000-5000", 206, (1000, 1024)),
        ("bytes=0-0", 206, (0, 1)),
        ("bytes=1024-", 416, None),
        ("bytes=5000-6000", 416, None),
        ("bytes=-0", 416, None),
        ("bytes=9-5", 200, (0, None)),
        ("bytes=0-1,5-6", 200, (0, None)),
        ("items=0-5", 200, (0, None)),
        ("bytes=a-b", 200, (0, None)),
    ],
)
def test_ranges(http, spec, status, span):
    data = file_bytes(http, "1k.bin")
    reply = get(http, "/1k.bin", f"Range: {spec}\r\n")
    assert reply.status == status
    if status == 416:
        assert reply.header("content-range") == "bytes */1024"
    else:
        assert reply.body == data[span[0] : span[1]]


def test_large_range_uses_the_file_path(http):
    data = file_bytes(http, "big.bin")
    reply = get(http, "/big.bin", "Range: bytes=100-200099\r\n")
    assert reply.status == 206 and reply.body == data[100:200100]


def test_directory_redirect_listing_and_index(http):
    moved = get(http, "/sub?x=1")
    assert moved.status == 301 and moved.header("location") == "/sub/?x=1"
    listing = get(http, "/sub/")
    assert listing.status == 200
    assert b"file%20with%20space.txt" in listing.body and b"../" in listing.body
    assert "ünïcode.txt" in listing.body.decode()
    top = get(http, "/docs/")
    assert top.body == b"<h1>docs</h1>\n"
    root_listing = get(http, "/", "")  # has index.html: the index, never a listing
    assert b"home" in root_listing.body


def test_listing_hides_symlinks_out(http):
    (http.site / "root" / "sub" / "index.html").unlink(missing_ok=True)
    body = get(http, "/sub/").body
    assert b"link_out" not in body
    assert b"secret" not in body.lower()


TRAVERSALS = [
    b"/../secret.txt",
    b"/../../../../etc/passwd",
    b"/..%2fsecret.txt",
    b"/%2e%2e/secret.txt",
    b"/%2E%2E/secret.txt",
    b"/%2e%2e%2fsecret.txt",
    b"/.%2e/secret.txt",
    b"/sub/../../secret.txt",
    b"/sub/%2e%2e/%2e%2e/secret.txt",
    b"/sub/..%2f..%2fsecret.txt",
    b"/%252e%252e/secret.txt",
    b"/..\\secret.txt",
    b"/%5c..%5csecret.txt",
    b"/..%5csecret.txt",
    b"/link_out",
    b"/dir_link_out/secret.txt",
    b"/dir_link_out/",
    b"/hello.txt%00.html",
    b"/%00",
    b"//etc/passwd",
    b"/%2fetc%2fpasswd",
    b"http://test/../secret.txt",
    b"/sub/%c0%ae%c0%ae/secret.txt",
]


@pytest.mark.parametrize("target", TRAVERSALS, ids=[t.decode() for t in TRAVERSALS])
def test_traversal_never_escapes_the_root(http, target):
    raw, _ = exchange(http, b"GET " + target + b" HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert status_of(raw) in (400, 403, 404), raw[:200]
    assert SECRET not in raw
    assert b"root:" not in raw


def test_curl_static_and_traversal(http):
    base = url(http, "")
    data = file_bytes(http, "big.bin")
    out = subprocess.run(["curl", "-sS", "--fail", base + "/big.bin"], capture_output=True)
    assert out.returncode == 0 and out.stdout == data
    part = subprocess.run(["curl", "-sS", "-r", "0-99", base + "/big.bin"], capture_output=True)
    assert part.stdout == data[:100]
    head = subprocess.run(
        ["curl", "-sS", "-I", "--http1.0", base + "/hello.txt"], capture_output=True
    )
    assert head.stdout.startswith(b"HTTP/1.1 200") and b"Content-Length: 20" in head.stdout
    evil = subprocess.run(
        ["curl", "-sS", "--path-as-is", "-o", "/dev/null", "-o", "/dev/null", "-w", "%{http_code}",
         base + "/../secret.txt", base + "/%2e%2e/secret.txt"],
        capture_output=True,
    )  # fmt: skip
    assert evil.stdout in (b"403403", b"404404", b"403404", b"404403")
