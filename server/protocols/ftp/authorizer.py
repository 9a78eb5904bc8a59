"""Who may log in: anonymous (read-only, when enabled) and named users from a users file.

The users file holds one user per line, `name:hash:rights:home` (rights `r` or `rw`, home an
absolute folder; `#` starts a comment). Hashes are salted and slow to brute-force:
`scrypt$n$r$p$salt$key` or `pbkdf2_sha256$iterations$salt$key` (base64 salt and key). The file
is re-read when it changes, so `ftp-user add` takes effect without a restart, in every process.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
from dataclasses import dataclass

from ...errors import ConfigError

log = logging.getLogger("server.ftp")

ANONYMOUS_NAMES = ("anonymous", "ftp")
SCRYPT = {"n": 2**14, "r": 8, "p": 1}  # ~16 MiB and tens of milliseconds per check
PBKDF2_ITERATIONS = 600_000
SCHEMES = ("scrypt", "pbkdf2_sha256")


@dataclass(frozen=True)
class User:
    name: str
    home: str
    write: bool
    anonymous: bool = False


@dataclass(frozen=True)
class Account:
    """One line of the users file."""

    name: str
    hash: str
    write: bool
    home: str

    def line(self) -> str:
        return f"{self.name}:{self.hash}:{'rw' if self.write else 'r'}:{self.home}\n"


# -- password hashes ------------------------------------------------------------------------
def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, scheme: str = "scrypt") -> str:
    """A salted hash of `password` in the users-file format."""
    salt = secrets.token_bytes(16)
    secret = password.encode("utf-8")
    if scheme == "scrypt":
        key = hashlib.scrypt(secret, salt=salt, dklen=32, **SCRYPT)
        return f"scrypt${SCRYPT['n']}${SCRYPT['r']}${SCRYPT['p']}${_b64(salt)}${_b64(key)}"
    if scheme == "pbkdf2_sha256":
        key = hashlib.pbkdf2_hmac("sha256", secret, salt, PBKDF2_ITERATIONS)
        return f"pbkdf2_sha256${PBKDF2_ITERATIONS}${_b64(salt)}${_b64(key)}"
    raise ConfigError(f"unknown hash scheme {scheme!r}: use one of {', '.join(SCHEMES)}")


def verify_password(password: str, encoded: str) -> bool:
    """True if `password` matches the stored hash (compared in constant time)."""
    scheme, *fields = encoded.split("$")
    secret = password.encode("utf-8", "surrogateescape")
    try:
        if scheme == "scrypt":
            n, r, p, salt, key = fields
            expected = base64.b64decode(key)
            got = hashlib.scrypt(
                secret,
                salt=base64.b64decode(salt),
                n=int(n),
                r=int(r),
                p=int(p),
                dklen=len(expected),
                maxmem=2**26,
            )
        elif scheme == "pbkdf2_sha256":
            iterations, salt, key = fields
            expected = base64.b64decode(key)
            got = hashlib.pbkdf2_hmac("sha256", secret, base64.b64decode(salt), int(iterations))
        else:
            return False
    except (ValueError, TypeError):  # a malformed entry never logs anyone in
        return False
    return hmac.compare_digest(got, expected)


def check_hash(encoded: str) -> bool:
    """True if `encoded` is a hash this module can verify."""
    scheme, *fields = encoded.split("$")
    return (scheme, len(fields)) in (("scrypt", 5), ("pbkdf2_sha256", 3))


# -- the users file -------------------------------------------------------------------------
def parse_line(line: str, where: str) -> Account | None:
    """One users-file line; None for blank lines and comments."""
    line = line.strip()
    if not line or line.startswith("#"):
        return None
    parts = line.split(":", 3)
    if len(parts) != 4:
        raise ConfigError(f"{where}: expected name:hash:rights:home")
    name, encoded, rights, home = parts
    if not valid_name(name):
        raise ConfigError(f"{where}: bad user name {name!r}")
    if not check_hash(encoded):
        raise ConfigError(f"{where}: unrecognised password hash for {name!r}")
    if rights not in ("r", "rw"):
        raise ConfigError(f"{where}: rights must be r or rw, not {rights!r}")
    if not os.path.isabs(home):
        raise ConfigError(f"{where}: home {home!r} must be an absolute path")
    return Account(name, encoded, rights == "rw", home)


def valid_name(name: str) -> bool:
    return bool(name) and name.isprintable() and not any(c in name for c in ": \t")


def read_users(path: str) -> dict[str, Account]:
    """Every account in the users file; a missing file is an empty one."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.readlines()
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read users file {path}: {exc}") from None
    accounts: dict[str, Account] = {}
    for number, line in enumerate(lines, 1):
        account = parse_line(line, f"{path}:{number}")
        if account:
            accounts[account.name] = account
    return accounts


def write_users(path: str, accounts: dict[str, Account]) -> None:
    """Replace the users file atomically, readable by its owner only."""
    tmp = f"{path}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("# FTP users: name:hash:rights:home (python -m server ftp-user add ...)\n")
            f.writelines(account.line() for account in accounts.values())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class Authorizer:
    """Checks logins; shared by every session (and inherited by every forked process)."""

    #: Verified against when the name is unknown, so a wrong name costs what a wrong password does.
    _DUMMY = (
        "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
    )

    def __init__(self, users_file: str | None = None, anonymous_root: str | None = None):
        self.users_file = users_file
        self.anonymous_root = anonymous_root
        self._accounts: dict[str, Account] = {}
        self._stamp: tuple | None = None
        if users_file:
            self._refresh(strict=True)

    def is_anonymous(self, name: str) -> bool:
        return self.anonymous_root is not None and name.lower() in ANONYMOUS_NAMES

    def accounts(self) -> list[Account]:
        """The named users as last read."""
        return list(self._accounts.values())

    def login(self, name: str, password: str) -> User | None:
        """The user for these credentials, or None."""
        if self.is_anonymous(name):
            return User(name.lower(), self.anonymous_root, write=False, anonymous=True)
        self._refresh()
        account = self._accounts.get(name)
        if not verify_password(password, account.hash if account else self._DUMMY):
            return None
        return User(account.name, account.home, account.write) if account else None

    def _refresh(self, strict: bool = False) -> None:
        """Re-read the users file if it changed since the last look (one stat per login)."""
        if not self.users_file:
            return
        try:
            st = os.stat(self.users_file)
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        except FileNotFoundError:
            stamp = None
        if stamp == self._stamp and self._stamp is not None:
            return
        try:
            self._accounts = read_users(self.users_file)
            self._stamp = stamp
        except ConfigError as exc:
            if strict:
                raise
            log.error("users file not reloaded, keeping the previous one: %s", exc)
