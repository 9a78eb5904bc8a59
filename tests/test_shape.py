"""The shape the code promises (docs/design.md, issue 16), checked so it stays that way:
small files and functions in server/ and deploy/, and model names written out only by the
models themselves (everything else asks the registry)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from server.models import MODELS

ROOT = Path(__file__).resolve().parent.parent
MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 40
#: Files allowed past MAX_FILE_LINES, each with the reason and what ends the exception.
LONG_FILES: dict[str, str] = {}
#: Functions allowed past MAX_FUNCTION_LINES, each with the reason.
LONG_FUNCTIONS: dict[str, str] = {}
#: Files that may spell a model's name, and why.
NAME_SPEAKERS = {
    # select, poll and epoll are system calls first: the pollers are named after them, and the
    # three multiplexing models take the poller's name as their own.
    "server/net/pollers.py": "system call names",
}


def _sources() -> list[Path]:
    return sorted(p for d in ("server", "deploy") for p in (ROOT / d).rglob("*.py"))


def _name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@pytest.mark.parametrize("path", _sources(), ids=_name)
def test_files_and_functions_are_small(path):
    source = path.read_text()
    lines = source.count("\n")
    if _name(path) not in LONG_FILES:
        assert lines <= MAX_FILE_LINES, f"{_name(path)}: {lines} lines"
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines, line {node.lineno})"
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
        and f"{_name(path)}:{node.name}" not in LONG_FUNCTIONS
    ]
    assert not long, f"{_name(path)}: {', '.join(long)}"


def test_the_exceptions_are_still_needed():
    for name in LONG_FILES:
        assert (ROOT / name).read_text().count("\n") > MAX_FILE_LINES, f"{name} fits now"
    for name in LONG_FUNCTIONS:
        file, _, function = name.partition(":")
        lengths = [
            node.end_lineno - node.lineno + 1
            for node in ast.walk(ast.parse((ROOT / file).read_text()))
            if isinstance(node, ast.FunctionDef) and node.name == function
        ]
        assert lengths and max(lengths) > MAX_FUNCTION_LINES, f"{name} fits now (or is gone)"


def test_model_names_are_written_only_by_the_models():
    spoken = [
        f"{_name(path)}:{node.lineno}: {node.value!r}"
        for path in _sources()
        if not _name(path).startswith("server/models/") and _name(path) not in NAME_SPEAKERS
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and node.value in MODELS
    ]
    assert not spoken, "ask the registry (server/models) instead:\n" + "\n".join(spoken)
