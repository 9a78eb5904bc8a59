import os

import pytest

from server.fs import Jail, PathRefused


@pytest.fixture
def jail(tmp_path):
    root = tmp_path / "root"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "a.txt").write_text("a")
    (tmp_path / "secret.txt").write_text("secret")
    os.symlink(tmp_path / "secret.txt", root / "out-link")
    os.symlink(tmp_path, root / "out-dir")
    os.symlink(root / "docs" / "a.txt", root / "in-link")
    return Jail(str(root))


VIRTUAL = [
    ("/", "/", "/"),
    ("docs", "/", "/docs"),
    ("a.txt", "/docs", "/docs/a.txt"),
    ("..", "/docs", "/"),
    ("../../..", "/docs", "/"),
    ("/../../etc/passwd", "/", "/etc/passwd"),
    ("docs/../../x", "/", "/x"),
    ("//docs///a.txt", "/", "/docs/a.txt"),
    ("./docs/./a.txt", "/", "/docs/a.txt"),
    ("..\\..\\x", "/docs", "/x"),
]


@pytest.mark.parametrize("path,cwd,expected", VIRTUAL)
def test_virtual_paths_never_rise_above_the_root(jail, path, cwd, expected):
    assert jail.virtual(path, cwd) == expected


def test_real_paths_stay_inside(jail):
    assert jail.real("/docs/a.txt") == os.path.join(jail.root, "docs", "a.txt")
    assert jail.real("/../../secret.txt") == os.path.join(jail.root, "secret.txt")
    assert jail.real("/in-link") == os.path.join(jail.root, "docs", "a.txt")


@pytest.mark.parametrize("path", ["/out-link", "/out-dir/secret.txt", "/out-dir"])
def test_symlinks_out_are_refused(jail, path):
    with pytest.raises(PathRefused, match="outside the root"):
        jail.real(path)


def test_nul_is_refused(jail):
    with pytest.raises(PathRefused, match="NUL"):
        jail.real("/docs/a.txt\0.png")


def test_to_virtual(jail):
    assert jail.to_virtual(jail.root) == "/"
    assert jail.to_virtual(os.path.join(jail.root, "docs", "a.txt")) == "/docs/a.txt"
    with pytest.raises(PathRefused):
        jail.to_virtual("/etc")


def test_sibling_with_common_prefix_is_outside(tmp_path):
    (tmp_path / "root").mkdir()
    (tmp_path / "root2").mkdir()
    jail = Jail(str(tmp_path / "root"))
    assert not jail.contains(str(tmp_path / "root2"))


def test_root_must_be_a_folder(tmp_path):
    with pytest.raises(PathRefused, match="not a folder"):
        Jail(str(tmp_path / "missing"))


def test_entry_is_the_name_itself_not_its_target(jail):
    """Deleting or renaming a symlink must act on the link, inside the root."""
    assert jail.entry("/out-link") == os.path.join(jail.root, "out-link")
    assert jail.entry("in-link", "/") == os.path.join(jail.root, "in-link")
    assert jail.entry("/docs/new.txt") == os.path.join(jail.root, "docs", "new.txt")
    assert jail.entry("/") == jail.root
    assert jail.entry("/../..") == jail.root


def test_entry_refuses_a_folder_that_leads_out(jail):
    with pytest.raises(PathRefused, match="outside the root"):
        jail.entry("/out-dir/secret.txt")
    with pytest.raises(PathRefused, match="NUL"):
        jail.entry("/docs/\0")


@pytest.mark.parametrize(
    ("path", "name"),
    [("/docs/a.txt", "docs/a.txt"), ("/in-link", "docs/a.txt"), ("/docs", "docs"), ("/", "")],
)
def test_open_returns_the_descriptor_and_its_real_path(jail, path, name):
    fd, real = jail.open(path)
    try:
        assert real == os.path.join(jail.root, name).rstrip(os.sep)
        assert os.path.samestat(os.fstat(fd), os.stat(real))
    finally:
        os.close(fd)


@pytest.mark.parametrize("path", ["/out-link", "/out-dir/secret.txt", "/out-dir"])
def test_open_refuses_what_leads_outside(jail, path):
    before = len(os.listdir("/proc/self/fd"))
    with pytest.raises(PathRefused):
        jail.open(path)
    assert len(os.listdir("/proc/self/fd")) == before  # the descriptor was closed


def test_open_missing_raises_oserror(jail):
    with pytest.raises(FileNotFoundError):
        jail.open("/docs/nothing")
