"""StaticFiles without a server: the jail, types, index, listing, HEAD and the send path."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from server.protocols.http.errors import HTTPError
from server.protocols.http.filecache import FileCache
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


def sent_headers(response) -> list[tuple[str, str]]:
    """Every header a response sends: its pre-encoded lines (a cached file's), then its list."""
    lines = response.fields.split("\r\n")[:-1]
    return [tuple(line.split(": ", 1)) for line in lines] + list(response.headers)


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
    assert ("Content-Type", content_type) in sent_headers(response)


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


# -- the file cache ---------------------------------------------------------------------------
SETTLE_NS = 50_000_000  # files are left this long (and a little more) before they are cached


def settled(root, **bounds) -> StaticFiles:
    """StaticFiles whose cache takes a file once its ctime is SETTLE_NS old; files made by the
    fixture are made old enough, and any change after it shows a ctime at least that newer."""
    time.sleep(SETTLE_NS / 1e9 * 1.2)
    return StaticFiles(str(root), cache=FileCache(settle_ns=SETTLE_NS, **bounds))


def get(static, target, method="GET", headers=None):
    try:
        return static.respond(Request(method, target, "HTTP/1.1", headers or {}))
    except HTTPError as error:
        return error


def rewrite(root, tmp_path):
    (root / "a.txt").write_text("b")  # the same size


def grow(root, tmp_path):
    (root / "a.txt").write_text("longer")


def replace_by_rename(root, tmp_path):
    (root / "new").write_text("c")
    os.replace(root / "new", root / "a.txt")


def delete(root, tmp_path):
    (root / "a.txt").unlink()


def replace_by_folder(root, tmp_path):
    (root / "a.txt").unlink()
    (root / "a.txt").mkdir()


def replace_by_link_out(root, tmp_path):
    (root / "a.txt").unlink()
    os.symlink(tmp_path / "secret", root / "a.txt")


def rewrite_index(root, tmp_path):
    (root / "dir" / "index.html").write_text("new index")


def move_folder_out_and_link_it(root, tmp_path):  # the file's own stat does not change
    os.rename(root / "dir", tmp_path / "moved")
    os.symlink(tmp_path / "moved", root / "dir")


@pytest.mark.parametrize(
    ("target", "change", "status", "body"),
    [
        ("/a.txt", rewrite, 200, b"b"),
        ("/a.txt", grow, 200, b"longer"),
        ("/a.txt", replace_by_rename, 200, b"c"),
        ("/a.txt", delete, 404, None),
        ("/a.txt", replace_by_folder, 301, None),
        ("/a.txt", replace_by_link_out, 403, None),
        ("/dir/", rewrite_index, 200, b"new index"),
        ("/dir/", move_folder_out_and_link_it, 403, None),
        ("/dir/index.html", move_folder_out_and_link_it, 403, None),
    ],
)
def test_a_cached_file_that_changed_is_seen_on_the_next_request(
    root, tmp_path, target, change, status, body
):
    (root / "dir" / "index.html").write_text("index")
    static = settled(root)
    assert get(static, target).code == 200 and len(static.cache) == 1
    change(root, tmp_path)
    answer = get(static, target)
    assert answer.code == status
    if body is not None:
        assert answer.body == body


def test_a_file_changed_moments_ago_is_served_from_the_disk_until_it_settles(root):
    static = StaticFiles(str(root))  # the default: two seconds
    (root / "a.txt").write_text("b")
    assert get(static, "/a.txt").body == b"b" and len(static.cache) == 0


@pytest.mark.parametrize(
    "target",
    ["/nothing", "/big.bin", "/dir/", "/dir", "//a.txt", "/./a.txt", "/dir/../a.txt", "/fifo",
     "/out", "/link", "/linked/a.txt"],
)  # fmt: skip
def test_only_small_regular_files_asked_by_their_normal_path_are_cached(root, target):
    static = settled(root)
    get(static, target)
    assert len(static.cache) == 0


def test_a_folder_index_is_redirected_as_before_when_the_path_lacks_its_slash(root):
    (root / "dir" / "index.html").write_text("index")
    static = settled(root)
    assert get(static, "/dir/").body == b"index" and len(static.cache) == 1
    assert get(static, "/dir").code == 301
    assert get(static, "/dir%2F").code == 301


@pytest.mark.parametrize(("bounds", "most"), [({"max_entries": 2}, 2), ({"max_bytes": 600}, 1)])
def test_the_cache_is_bounded(root, bounds, most):
    names = [f"f{n}.txt" for n in range(5)]
    for name in names:
        (root / name).write_bytes(b"x" * 300)
    static = settled(root, **bounds)
    for name in names:
        assert get(static, "/" + name).body == b"x" * 300
        assert len(static.cache) <= most and static.cache.bytes <= static.cache.max_bytes
    assert len(static.cache) == most


@pytest.mark.parametrize(
    ("method", "headers"),
    [
        ("GET", {}),
        ("HEAD", {}),
        ("GET", {"if-none-match": "{etag}"}),
        ("GET", {"if-none-match": '"other"'}),
        ("HEAD", {"if-none-match": "W/{etag}"}),
        ("GET", {"if-modified-since": "Fri, 01 Jan 2100 00:00:00 GMT"}),
        ("GET", {"if-modified-since": "Thu, 01 Jan 1970 00:00:00 GMT"}),
        ("GET", {"range": "bytes=1-2"}),
        ("GET", {"range": "bytes=-2"}),
        ("HEAD", {"range": "bytes=0-0"}),
        ("GET", {"range": "bytes=9-"}),
        ("GET", {"range": "bytes=0-0,2-3"}),
        ("GET", {"range": "bytes=1-2", "if-range": "{etag}"}),
        ("GET", {"range": "bytes=1-2", "if-range": '"other"'}),
    ],
)
def test_conditions_ranges_and_head_answer_the_same_from_the_cache(root, method, headers):
    (root / "a.txt").write_text("abcd")
    cold = StaticFiles(str(root), cache=FileCache(max_entries=0))
    etag = dict(sent_headers(get(cold, "/a.txt")))["ETag"]
    headers = {name: value.replace("{etag}", etag) for name, value in headers.items()}
    warm = settled(root)
    get(warm, "/a.txt")
    assert len(warm.cache) == 1
    expected, answer = get(cold, "/a.txt", method, headers), get(warm, "/a.txt", method, headers)
    assert (answer.code, sent_headers(answer), answer.body, answer.length) == (
        expected.code, sent_headers(expected), expected.body, expected.length,
    )  # fmt: skip


def test_threads_share_the_cache_and_its_byte_count_stays_true(root):
    names = [f"f{n}.txt" for n in range(6)]
    for name in names:
        (root / name).write_text(name * 10)
    static = settled(root, max_entries=3)

    def hammer():
        for turn in range(300):
            name = names[turn % len(names)]
            assert get(static, "/" + name).body == name.encode() * 10

    with ThreadPoolExecutor(4) as pool:
        for done in [pool.submit(hammer) for _ in range(4)]:
            done.result()  # a wrong body fails the test here
    assert len(static.cache) <= 3
    assert static.cache.bytes == sum(cost for *_, cost in static.cache._entries.values())
