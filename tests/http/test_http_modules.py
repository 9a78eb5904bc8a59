"""Handler modules: loading, reloading on change, isolation of broken modules."""

from __future__ import annotations

import os

import pytest

from server.errors import ConfigError
from server.protocols.http.errors import HTTPError
from server.protocols.http.modules import HandlerModules
from server.protocols.http.request import Request
from server.protocols.http.wsgi import WSGIApp


@pytest.fixture
def modules(tmp_path):
    return HandlerModules(str(tmp_path), WSGIApp)


def no_early(response):
    raise AssertionError("no module here calls WSGI write()")


def call(modules, target: str):
    request = Request("GET", target, "HTTP/1.1", {"host": "h"})
    return modules.respond(request, no_early)


def write(path, text):
    path.write_text(text)
    stamp = path.stat().st_mtime_ns + 1_000_000  # coarse clocks: make the change visible
    os.utime(path, ns=(stamp, stamp))


def test_handle_and_wsgi_modules(modules, tmp_path):
    write(tmp_path / "a.py", "def handle(request):\n    return request.subpath\n")
    write(
        tmp_path / "w.py",
        "def app(environ, start):\n    start('200 OK', [])\n"
        "    return [environ['SCRIPT_NAME'].encode(), environ['PATH_INFO'].encode()]\n",
    )
    assert call(modules, "/a/x/y").body == b"/x/y"
    assert call(modules, "/a").body == b"/"
    assert call(modules, "/w/z").body == b"/w/z"


@pytest.mark.parametrize("target", ["/", "/missing", "/_private", "/a-b", "/%61", "/1x", "/a.py"])
def test_paths_that_are_not_modules_fall_through(modules, tmp_path, target):
    write(tmp_path / "_private.py", "def handle(request):\n    return 'no'\n")
    write(tmp_path / "a.py", "def handle(request):\n    return 'a'\n")
    assert call(modules, target) is None


def test_edit_reload_and_errors(modules, tmp_path):
    path = tmp_path / "m.py"
    write(path, "def handle(request):\n    return 'one'\n")
    assert call(modules, "/m").body == b"one"
    write(path, "def handle(request):\n    return 'two'\n")
    assert call(modules, "/m").body == b"two"
    write(path, "def handle(request)\n")
    with pytest.raises(HTTPError) as raised:
        call(modules, "/m")
    assert raised.value.code == 500 and "SyntaxError" in raised.value.message
    write(path, "x = 1\n")
    with pytest.raises(HTTPError):
        call(modules, "/m")  # neither handle nor app
    write(path, "import no_such_module_anywhere\n")
    with pytest.raises(HTTPError):
        call(modules, "/m")
    write(path, "def handle(request):\n    return 'three'\n")
    assert call(modules, "/m").body == b"three"


def test_reload_all_reloads_unchanged_files(modules, tmp_path):
    path = tmp_path / "c.py"
    write(
        path,
        "import itertools\nN = itertools.count()\ndef handle(request):\n    return str(next(N))\n",
    )
    assert call(modules, "/c").body == b"0"
    assert call(modules, "/c").body == b"1"
    modules.reload_all()
    assert call(modules, "/c").body == b"0"


def test_handler_errors_propagate_to_the_router(modules, tmp_path):
    write(tmp_path / "r.py", "def handle(request):\n    raise KeyError('x')\n")
    with pytest.raises(KeyError):
        call(modules, "/r")


def test_folder_must_exist(tmp_path):
    with pytest.raises(ConfigError, match="--handlers"):
        HandlerModules(str(tmp_path / "nope"), WSGIApp)
