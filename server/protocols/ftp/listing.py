"""Listing formats: `ls -l` lines (LIST, STAT), bare names (NLST) and RFC 3659 facts (MLSD,
MLST). A folder is listed as its entries are stat'ed, a batch per chunk the socket takes."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable, Iterable, Iterator

from ...fs import Jail
from .replies import ENCODING, ERRORS
from .upload import TEMP_PREFIX

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
HALF_YEAR = 182 * 24 * 3600
FACTS = ("type", "size", "modify", "perm", "unique")
BATCH = 256  # lines per chunk handed to the transport


def entries(jail: Jail, folder: str, names: Iterable[str]) -> Iterator[tuple[str, os.stat_result]]:
    """(name, stat) for the names in a real folder, as a client inside the jail sees them.

    A symlink is shown as what it points to when that is inside the jail, and not at all when
    it leads out or nowhere. Left out too: names that would break a line-based listing, and
    uploads in progress (their temporary files), which must not be copied half-done.
    """
    for name in names:
        if "\n" in name or "\r" in name or name.startswith(TEMP_PREFIX):
            continue
        path = os.path.join(folder, name)
        try:
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                if not jail.contains(os.path.realpath(path)):
                    continue
                st = os.stat(path)
        except OSError:  # removed while listing, or a dangling link
            continue
        yield name, st


def ls_line(name: str, st: os.stat_result, now: float) -> str:
    """One `ls -l` line; times in UTC, like MDTM."""
    t = time.gmtime(st.st_mtime)
    day = f"{MONTHS[t.tm_mon - 1]} {t.tm_mday:2d}"
    recent = now - HALF_YEAR < st.st_mtime < now + 3600
    when = f"{day} {t.tm_hour:02d}:{t.tm_min:02d}" if recent else f"{day}  {t.tm_year}"
    return (
        f"{stat.filemode(st.st_mode)} {st.st_nlink:3d} {st.st_uid:<8d} {st.st_gid:<8d} "
        f"{st.st_size:>12d} {when} {name}"
    )


def modify_time(st: os.stat_result) -> str:
    """YYYYMMDDHHMMSS in UTC (RFC 3659 time-val, used by MDTM and the modify fact)."""
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(st.st_mtime))


def facts_line(name: str, st: os.stat_result, facts: Iterable[str], writable: bool) -> str:
    """`type=file;size=3;...; name` with the enabled facts, in FACTS order."""
    is_dir = stat.S_ISDIR(st.st_mode)
    values = {
        "type": "dir" if is_dir else "file",
        "size": None if is_dir else str(st.st_size),
        "modify": modify_time(st),
        "perm": _perm(is_dir, writable),
        "unique": f"{st.st_dev:x}g{st.st_ino:x}",
    }
    shown = "".join(f"{fact}={values[fact]};" for fact in facts if values.get(fact) is not None)
    return f"{shown} {name}"


def _perm(is_dir: bool, writable: bool) -> str:
    """RFC 3659 perm fact: what this user may do with the entry."""
    if is_dir:
        return "el" + ("cdfmp" if writable else "")
    return "r" + ("adfw" if writable else "")


def lines_to_chunks(lines: Iterator[str]) -> Iterator[bytes]:
    """CRLF-terminated lines, encoded, a batch per chunk."""
    batch: list[str] = []
    for line in lines:
        batch.append(line)
        if len(batch) >= BATCH:
            yield ("\r\n".join(batch) + "\r\n").encode(ENCODING, ERRORS)
            batch = []
    if batch:
        yield ("\r\n".join(batch) + "\r\n").encode(ENCODING, ERRORS)


def folder_lines(
    jail: Jail, folder: str, format_line: Callable[[str, os.stat_result], str]
) -> Iterator[str]:
    """Formatted lines for a real folder's entries, sorted by name. Raises at once if the
    folder cannot be read (so the command answers 550), then yields lazily."""
    names = sorted(os.listdir(folder))
    return (format_line(name, st) for name, st in entries(jail, folder, names))
