"""Logging in and session parameters: USER PASS QUIT NOOP SYST FEAT OPTS HELP STAT TYPE MODE
STRU ALLO. A mixin of FTPSession (--tls-required's refusals are security.py's)."""

from __future__ import annotations

import logging
import os
from concurrent.futures import Future, ThreadPoolExecutor

from ...fs import Jail, PathRefused
from . import counters
from .listing import FACTS
from .replies import FTPReply
from .verbs import VERBS, lookup

log = logging.getLogger("server.ftp")

FEATURES = (
    "EPRT",
    "EPSV",
    "MDTM",
    "MLST " + "".join(f"{fact}*;" for fact in FACTS),
    "REST STREAM",
    "SIZE",
    "TVFS",
    "UTF8",
)


_checks: tuple[int, ThreadPoolExecutor] | None = None


def password_checks() -> ThreadPoolExecutor:
    """Threads for password checks, made on first use in each process (a forked child cannot
    use its parent's threads). A check costs tens of milliseconds of CPU by design; hashlib's
    scrypt and pbkdf2 release the GIL, so the session's loop -- under select/poll/epoll every
    other client -- keeps serving meanwhile."""
    global _checks
    if _checks is None or _checks[0] != os.getpid():
        pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="ftp-login")
        _checks = (os.getpid(), pool)
    return _checks[1]


class AccessCommands:
    # -- logging in ---------------------------------------------------------------------
    def ftp_USER(self, arg: str) -> None:
        if self.user is not None:
            raise FTPReply(503, f"Already logged in as {self.user.name}.")
        self.refuse_clear_login()
        self.pending_user = arg
        if self.settings.authorizer.is_anonymous(arg):
            self.reply(331, "Anonymous login okay, send your e-mail address as password.")
        else:
            self.reply(331, f"Password required for {arg}.")

    def ftp_PASS(self, arg: str) -> None:
        if self.user is not None:
            raise FTPReply(503, f"Already logged in as {self.user.name}.")
        self.refuse_clear_login()
        if self.pending_user is None:
            raise FTPReply(503, "Bad sequence of commands: send USER first.")
        name, self.pending_user = self.pending_user, None
        authorizer = self.settings.authorizer
        if authorizer.is_anonymous(name):
            self._log_in(name, authorizer.login(name, arg))
            return
        self.hold("login")  # commands sent meanwhile wait for the answer
        checking = password_checks().submit(authorizer.login, name, arg)
        scheduler = self.scheduler
        checking.add_done_callback(
            lambda done: scheduler.call_soon_threadsafe(self._password_checked, name, done)
        )

    def _password_checked(self, name: str, done: Future) -> None:
        if self.transport.closing:
            return  # the client left while its password was checked
        self.answering(lambda: self._log_in(name, done.result()))
        if self._timer is None:  # a failed login is answered, and input released, after a delay
            self.release_input()

    def _log_in(self, name: str, user) -> None:
        if user is None:
            self._login_failed(name)
            return
        try:
            self.fs = Jail(user.home)
        except PathRefused:
            log.error("home folder of %s is missing: %s", user.name, user.home)
            raise FTPReply(530, "Login failed: your home folder is not available.") from None
        self.user = user
        self.failed_logins = 0
        counters.login(ok=True)
        log.info("%s logged in from %s", user.name, self.peer_host)
        if user.anonymous:
            self.reply(230, "Anonymous access granted, restrictions apply.")
        else:
            self.reply(230, f"User {user.name} logged in.")

    def _login_failed(self, name: str) -> None:
        """Answer only after a delay (commands sent meanwhile wait); cut off after a few."""
        self.failed_logins += 1
        counters.login(ok=False)
        log.warning("failed login as %r from %s (%d)", name, self.peer_host, self.failed_logins)
        self.hold("login")
        delay = self.settings.login_delay
        self._timer = self.scheduler.call_later(delay, self._answer_failed_login)

    def _answer_failed_login(self) -> None:
        self._timer = None
        self.reply(530, "Login incorrect.")
        if self.failed_logins >= self.settings.max_login_attempts:
            self.reply(421, "Too many failed logins; closing control connection.")
            self.transport.close()
            return
        self.release_input()

    def ftp_QUIT(self, arg: str) -> None:
        self.reply(221, "Goodbye.")
        self.transport.close()

    # -- about the server ---------------------------------------------------------------
    def ftp_NOOP(self, arg: str) -> None:
        self.reply(200, "NOOP okay.")

    def ftp_SYST(self, arg: str) -> None:
        self.reply(215, "UNIX Type: L8")

    def ftp_FEAT(self, arg: str) -> None:
        features = sorted((*FEATURES, *self.security_features()))
        self.reply_lines(211, "Features supported:", features, "End FEAT.")

    def ftp_OPTS(self, arg: str) -> None:
        name, _, value = arg.strip().partition(" ")
        name, value = name.upper(), value.strip()
        if name == "UTF8":
            if value.upper() not in ("", "ON"):
                raise FTPReply(504, "UTF8 cannot be turned off: paths are always UTF-8.")
            self.reply(200, "Always in UTF8 mode.")
        elif name == "MLST":
            asked = [fact.lower() for fact in value.split(";") if fact]
            self.mlst_facts = tuple(fact for fact in FACTS if fact in asked)
            self.reply(200, "MLST OPTS " + "".join(f"{fact};" for fact in self.mlst_facts))
        else:
            raise FTPReply(501, f"OPTS {name[:32]} not understood; try UTF8 or MLST.")

    def ftp_HELP(self, arg: str) -> None:
        if arg.strip():
            verb = lookup(arg.strip())
            if verb is None:
                raise FTPReply(501, f"Unknown command {arg.strip()[:32]!r}.")
            self.reply(214, f"Syntax: {verb.help}")
            return
        names = sorted(VERBS)
        rows = [
            " ".join(f"{name:<5}" for name in names[i : i + 10]) for i in range(0, len(names), 10)
        ]
        self.reply_lines(214, "The following commands are recognized:", rows, "Help okay.")

    def ftp_STAT(self, arg: str) -> None:
        if not arg.strip():
            self.reply_lines(211, "FTP server status:", self._status(), "End of status.")
            return
        if self.user is None:
            raise FTPReply(530, "Log in with USER and PASS first.")
        virtual, real = self.path(arg)
        lines = list(self.long_lines(virtual, real))
        self.reply_lines(213, f"Status of {virtual}:", lines, "End of status.")

    def _status(self) -> list[str]:
        who = self.user.name if self.user else "nobody (not logged in)"
        if self.transfer is not None:
            data = self.transfer.progress()
        else:
            data = "data connection open" if self.data is not None else "no data connection"
        return [
            f"Connected from {self.peer_host or 'a local socket'}",
            f"Logged in as {who}",
            f"TYPE: {'BINARY' if self.binary else 'ASCII'}; STRUcture: File; MODE: Stream",
            self.security_status(),
            data.capitalize(),
        ]

    # -- transfer parameters ------------------------------------------------------------
    def ftp_TYPE(self, arg: str) -> None:
        words = arg.upper().split()
        if words in (["A"], ["A", "N"]):
            self.binary = False
            self.reply(200, "Type set to A (ASCII).")
        elif words in (["I"], ["L", "8"]):
            self.binary = True
            self.reply(200, "Type set to I (binary).")
        else:
            raise FTPReply(504, f"Type {arg.strip()[:16]} not supported; use A or I.")

    def ftp_MODE(self, arg: str) -> None:
        if arg.strip().upper() != "S":
            raise FTPReply(504, "Only stream mode (MODE S) is supported.")
        self.reply(200, "Mode set to S (stream).")

    def ftp_STRU(self, arg: str) -> None:
        if arg.strip().upper() != "F":
            raise FTPReply(504, "Only file structure (STRU F) is supported.")
        self.reply(200, "Structure set to F (file).")

    def ftp_ALLO(self, arg: str) -> None:
        self.reply(202, "No storage allocation necessary.")
