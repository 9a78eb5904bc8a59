"""The `http` command: flags, environment twins and configuration errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from harness import ROOT
from server.commands.http import byte_size


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1024", 1024),
        ("512k", 512 * 1024),
        ("10M", 10 * 1024**2),
        ("1g", 1024**3),
        ("2MB", 2 * 1024**2),
    ],
)
def test_byte_size(text, value):
    assert byte_size(text) == value


@pytest.mark.parametrize("text", ["", "ten", "1.5M", "-1", "5T"])
def test_byte_size_refuses(text):
    with pytest.raises(ValueError):
        byte_size(text)


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--root", "/nonexistent/root"], {}, "--root"),
        (["--handlers", "/nonexistent/mods"], {}, "--handlers"),
        (["--app", "no_such_module_xyz:app"], {}, "--app"),
        (["--app", "nocolon"], {}, "--app"),
        (["--forwarded-allow-ips", "bogus"], {}, "forwarded-allow-ips"),
        (["--keepalive-timeout", "0"], {}, "--keepalive-timeout"),
        (["--max-body", "lots"], {}, "max-body"),
        ([], {"SERVER_MAX_BODY": "lots"}, "SERVER_MAX_BODY"),
        (["--access-log", "/nonexistent/dir/log"], {}, "--access-log"),
        ([], {"SERVER_SERVED_BY": "a\r\nX-Evil: 1"}, "--served-by"),
    ],
)
def test_configuration_errors_exit_2_with_one_line(tmp_path, args, env, message):
    result = subprocess.run(
        [sys.executable, "-m", "server", "http", "--model", "epoll", "--bind", ":0", *args],
        capture_output=True, text=True, timeout=30, cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", **env},
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr


def test_help_lists_every_flag_with_its_environment_twin():
    result = subprocess.run(
        [sys.executable, "-m", "server", "http", "--help"],
        capture_output=True, text=True, timeout=30, env={"PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    for flag in ("--root", "--listing", "--handlers", "--app", "--max-body", "--ops-prefix",
                 "--access-log", "--access-log-format", "--forwarded-allow-ips", "--served-by",
                 "--keepalive-timeout", "--header-timeout", "--certfile", "--keyfile"):  # fmt: skip
        assert flag in result.stdout
        assert "SERVER_" + flag[2:].upper().replace("-", "_") in result.stdout
