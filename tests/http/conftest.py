"""One HTTP server per model, shared by every HTTP functional test of that model.

Each server gets its own site folder: a static root (with symlinks pointing in and out), a
secret file outside the root, the handler modules from apps/handlers and the Flask app.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from harness import MODELS, VARIANTS, ServerProcess, variant

APPS = Path(__file__).parent / "apps"
SECRET = b"TOP-SECRET-OUTSIDE-THE-ROOT"
BROKEN_MODULE = "def handle(request)\n    return 'a syntax error'\n"
HEADER_TIMEOUT = 1.5
KEEPALIVE_TIMEOUT = 2.0
MAX_BODY = 3 * 1024 * 1024  # past the 1 MiB spool threshold


def build_site(base: Path) -> Path:
    """The folder a server runs in; returns it."""
    root = base / "root"
    (root / "sub").mkdir(parents=True)
    (root / "docs").mkdir()
    (root / "index.html").write_text("<h1>home</h1>\n")
    (root / "hello.txt").write_text("hello, static world\n")
    (root / "style.css").write_text("body { color: red }\n")
    (root / "data.json").write_text('{"a": 1}\n')
    (root / "docs" / "index.html").write_text("<h1>docs</h1>\n")
    (root / "sub" / "file with space.txt").write_text("spaced\n")
    (root / "sub" / "ünïcode.txt").write_text("unicode name\n")
    (root / "1k.bin").write_bytes(os.urandom(1024))
    (root / "big.bin").write_bytes(os.urandom(300 * 1024 + 7))
    (base / "secret.txt").write_bytes(SECRET)
    (base / "outside").mkdir()
    (base / "outside" / "secret.txt").write_bytes(SECRET)
    os.symlink(base / "secret.txt", root / "link_out")
    os.symlink(base / "outside", root / "dir_link_out")
    os.symlink(root / "hello.txt", root / "link_in")
    shutil.copytree(APPS / "handlers", base / "handlers")
    (base / "handlers" / "broken.py").write_text(BROKEN_MODULE)
    shutil.copy(APPS / "flask_app.py", base / "flask_app.py")
    return base


def server_args(site: Path, model: str) -> list[str]:
    return [
        "--root", str(site / "root"), "--listing",
        "--handlers", str(site / "handlers"),
        "--app", "flask_app:app",
        "--max-body", str(MAX_BODY),
        "--header-timeout", str(HEADER_TIMEOUT),
        "--keepalive-timeout", str(KEEPALIVE_TIMEOUT),
        "--access-log", str(site / "access.log"),
        "--served-by", f"replica-{model}",
        "--forwarded-allow-ips", "127.0.0.1",
        "--threads", "8",
    ]  # fmt: skip


@pytest.fixture(scope="session", params=[*MODELS, *VARIANTS])
def http(request, tmp_path_factory) -> ServerProcess:
    """A running HTTP server for one model (or variant); `.site` is its folder."""
    model, flags = variant(request.param)
    site = build_site(tmp_path_factory.mktemp(f"http-{request.param}"))
    server = ServerProcess("http", model, args=[*server_args(site, model), *flags], cwd=site)
    server.site = site
    server.model = model
    server.start()
    yield server
    status = server.stop()
    assert status == 0, server.log()
