"""The command table and the one gate every command line passes before its handler.

Each verb states whether it needs a login (`auth`), the right it needs (`perm`: "r" to read,
"w" to change the disk), whether it takes an argument (`arg`: True required, False refused,
None optional) and whether it works on the disk from the control connection (`disk`: it runs
on the loop's executor, a pool under the hybrid model). `gate` answers 500/501/530/550 from the
table, so handlers (`ftp_<VERB>` methods on the session) start from a command that is allowed
and well-formed.
"""

from __future__ import annotations

from dataclasses import dataclass

from .replies import FTPReply

MAX_LINE = 2048  # bytes in one command line, terminator excluded


@dataclass(frozen=True)
class Verb:
    name: str
    help: str
    auth: bool = True
    perm: str = "r"
    arg: bool | None = None
    disk: bool = False  # touches the disk: runs where the loop runs blocking work


def _table(*verbs: Verb) -> dict[str, Verb]:
    return {verb.name: verb for verb in verbs}


VERBS = _table(
    # access
    Verb("USER", "USER <name>: start logging in as this user.", auth=False, perm="", arg=True),
    Verb("PASS", "PASS <password>: finish logging in.", auth=False, perm="", arg=None),
    Verb("QUIT", "QUIT: log out and close the connection.", auth=False, perm="", arg=False),
    Verb("NOOP", "NOOP: do nothing (keeps the connection alive).", auth=False, perm="", arg=False),
    Verb("SYST", "SYST: name the system type.", auth=False, perm="", arg=False),
    Verb("FEAT", "FEAT: list the extensions supported.", auth=False, perm="", arg=False),
    Verb(
        "OPTS",
        "OPTS <command> [options]: set options (UTF8 ON, MLST facts).",
        auth=False,
        perm="",
        arg=True,
    ),
    Verb("HELP", "HELP [command]: how to use a command.", auth=False, perm="", arg=None),
    Verb(
        "STAT",
        "STAT [path]: session status, or a listing on the control connection.",
        auth=False,
        perm="",
        arg=None,
    ),
    # TLS (RFC 4217)
    Verb(
        "AUTH", "AUTH TLS: protect the control connection with TLS.", auth=False, perm="", arg=True
    ),
    Verb(
        "PBSZ",
        "PBSZ 0: protection buffer size (0 with TLS), before PROT.",
        auth=False,
        perm="",
        arg=True,
    ),
    Verb(
        "PROT",
        "PROT P|C: data connections protected by TLS (P) or in clear (C).",
        auth=False,
        perm="",
        arg=True,
    ),
    Verb(
        "CCC",
        "CCC: back to a clear control connection (always refused).",
        auth=False,
        perm="",
        arg=False,
    ),
    # transfer parameters
    Verb("TYPE", "TYPE A|I: ASCII or binary (image) transfers.", arg=True),
    Verb("MODE", "MODE S: stream mode (the only one).", arg=True),
    Verb("STRU", "STRU F: file structure (the only one).", arg=True),
    Verb("ALLO", "ALLO <bytes>: reserve space (not needed here).", arg=True),
    Verb("REST", "REST <offset>: restart the next RETR or STOR at this byte.", arg=True),
    Verb("PASV", "PASV: wait for the data connection (IPv4).", arg=False),
    Verb("EPSV", "EPSV [1|2|ALL]: wait for the data connection (any protocol).", arg=None),
    Verb("PORT", "PORT h1,h2,h3,h4,p1,p2: connect to you for the data (IPv4).", arg=True),
    Verb("EPRT", "EPRT |proto|address|port|: connect to you for the data.", arg=True),
    Verb("ABOR", "ABOR: abort the transfer in progress.", arg=False),
    # navigation and listings
    Verb("PWD", "PWD: print the current folder.", arg=False),
    Verb("CWD", "CWD <path>: change the current folder.", arg=True, disk=True),
    Verb("CDUP", "CDUP: go to the parent folder.", arg=False, disk=True),
    Verb("LIST", "LIST [path]: long listing on the data connection.", arg=None),
    Verb("NLST", "NLST [path]: names only, on the data connection.", arg=None),
    Verb("MLSD", "MLSD [path]: machine listing of a folder (RFC 3659).", arg=None),
    Verb(
        "MLST",
        "MLST [path]: machine facts of one path, on the control connection.",
        arg=None,
        disk=True,
    ),
    Verb("SIZE", "SIZE <path>: size of a file in bytes.", arg=True, disk=True),
    Verb("MDTM", "MDTM <path>: modification time of a file (UTC).", arg=True, disk=True),
    # files
    Verb("RETR", "RETR <path>: download a file.", arg=True),
    Verb("STOR", "STOR <path>: upload a file (replaced only when complete).", perm="w", arg=True),
    Verb(
        "APPE", "APPE <path>: append to a file (replaced only when complete).", perm="w", arg=True
    ),
    Verb("DELE", "DELE <path>: delete a file.", perm="w", arg=True, disk=True),
    Verb("MKD", "MKD <path>: create a folder.", perm="w", arg=True, disk=True),
    Verb("RMD", "RMD <path>: remove an empty folder.", perm="w", arg=True, disk=True),
    Verb("RNFR", "RNFR <path>: rename from (followed by RNTO).", perm="w", arg=True, disk=True),
    Verb("RNTO", "RNTO <path>: rename to (after RNFR).", perm="w", arg=True, disk=True),
)

#: Old names still sent by some clients (RFC 775), answered by the modern handler.
ALIASES = {"XPWD": "PWD", "XCWD": "CWD", "XCUP": "CDUP", "XMKD": "MKD", "XRMD": "RMD"}

#: What a client may send while a transfer is in flight; other commands wait until it ends.
DURING_TRANSFER = frozenset({"ABOR", "STAT", "NOOP"})


def lookup(word: str) -> Verb | None:
    name = word.upper()
    return VERBS.get(ALIASES.get(name, name))


def gate(word: str, arg: str, logged_in: bool, can_write: bool) -> Verb:
    """The verb for a command line, or FTPReply with the reason it may not run."""
    verb = lookup(word)
    if verb is None:
        raise FTPReply(500, f"Command {word[:32]!r} not understood.")
    if verb.auth and not logged_in:
        raise FTPReply(530, "Log in with USER and PASS first.")
    if verb.arg is True and not arg:
        raise FTPReply(501, f"Syntax error: {verb.name} needs an argument ({verb.help})")
    if verb.arg is False and arg:
        raise FTPReply(501, f"Syntax error: {verb.name} takes no argument.")
    if verb.perm == "w" and not can_write:
        raise FTPReply(550, "Permission denied: this account is read-only.")
    return verb


def split(line: str) -> tuple[str, str]:
    """'RETR a b.txt' -> ('RETR', 'a b.txt'): the argument keeps its inner and trailing spaces."""
    word, _, arg = line.lstrip(" ").partition(" ")
    return word, arg
