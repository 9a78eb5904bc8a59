"""The control connection: command lines in, replies out, one gate in between.

`FTPSession` is a sans-IO protocol: bytes arrive through `data_received`, replies leave through
the transport, timers and disk work go through the `Scheduler` it is given, and data connections
through its `Links` (the service gives both, from the connection's loop) -- so one session
object behaves the same under every model, and its tests need no loop. The verbs themselves
are the `ftp_<VERB>` methods of the mixins it is made of (access, files, transfers, security).
"""

from __future__ import annotations

import logging
import re
import threading

from ...fs import PathRefused
from ...net.links import Links
from ...net.protocol import NO_DELAY, URGENT_INLINE, Protocol, Scheduler
from . import counters
from .access import AccessCommands
from .data_verbs import TransferCommands
from .files import FileCommands
from .limits import LimitReached
from .replies import ENCODING, ERRORS, FTPReply, encode, encode_lines, os_error
from .security import SecurityCommands
from .settings import FTPSettings
from .verbs import DURING_TRANSFER, MAX_LINE, gate, lookup, split

log = logging.getLogger("server.ftp")

_TELNET = re.compile(rb"\xff[\xf0-\xfe]")  # IAC + command (IP, DM, ...) sent around ABOR


class FTPSession(AccessCommands, FileCommands, TransferCommands, SecurityCommands, Protocol):
    """One client's control connection and everything it has open."""

    # Replies go out at once (no Nagle delay between a 150 and a 226), and urgent data
    # (ftplib sends ABOR with MSG_OOB) stays in the stream instead of being lost.
    tcp_options = (NO_DELAY, URGENT_INLINE)

    def __init__(self, settings: FTPSettings, scheduler: Scheduler, links: Links):
        self.settings = settings
        self.scheduler = scheduler
        self.links = links
        self.user = None  # authorizer.User once logged in
        self.fs = None  # the user's Jail once logged in
        self.cwd = "/"
        self.binary = False  # TYPE A until the client asks for I (RFC 959)
        self.rest = 0
        self.rename_from: tuple[str, str] | None = None
        self.pending_user: str | None = None
        self.failed_logins = 0
        self.data = None  # the DataChannel set up by PASV/EPSV/PORT/EPRT
        self.transfer = None  # the Transfer in flight
        self.epsv_all = False
        self.mlst_facts = ("type", "size", "modify", "perm", "unique")
        self.draining = False
        self.peer_host = ""
        implicit = settings.tls is not None and settings.tls.implicit
        self.pbsz = implicit  # PBSZ sent (implicit TLS: taken as sent)
        self.protect_data = implicit  # PROT P: data connections use TLS
        self.handshake = None  # AUTH TLS's handshake, while it runs
        self._slot: int | None = None
        self._greeted = False  # counted in ftp_sessions_open
        self._input = bytearray()
        self._held = ""  # why input waits: "login" (failed-login delay) or "transfer"
        self._skipping = False  # inside an over-long line: drop until its end
        self._timer = None
        self._ended: list = []  # data channels of finished transfers, maybe still closing
        self._loop_thread = 0
        self._off_loop_replies: list[bytes] | None = None  # a disk command's, on a pool thread

    # -- life -----------------------------------------------------------------------------
    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._loop_thread = threading.get_ident()
        peer = transport.peer
        self.peer_host = peer[0] if isinstance(peer, tuple) else ""
        if self.settings.limits is not None:
            try:
                self._slot = self.settings.limits.claim(self.peer_host)
            except LimitReached as refused:
                log.warning("refused %s: %s", self.peer_host, refused)
                self.reply(421, str(refused))
                transport.close()
                return
        self.reply(220, self.settings.banner)
        self._greeted = counters.session_opened()

    def connection_lost(self, exc: BaseException | None) -> None:
        if self.transfer is not None:
            self.transfer.finish(426, "Control connection closed; transfer aborted.")
        for channel in [self.data, *self._ended]:
            if channel is not None:
                channel.close(abort=True)  # nothing may outlive the session, under any model
        self.data, self._ended = None, []
        if self._timer is not None:
            self._timer.cancel()
        if self.handshake is not None:
            self.handshake.cancel()
        if self._slot is not None:
            self.settings.limits.release(self._slot)
            self._slot = None
        if self._greeted:
            counters.session_closed()
            self._greeted = False

    def idle_timeout(self) -> None:
        if self.transfer is not None:  # a long transfer is not idleness on this connection
            self.transport.set_idle_timeout(self.settings.idle_timeout)
            return
        self.reply(421, f"Idle for {self.settings.idle_timeout:g}s; closing control connection.")
        self.transport.close()

    def drain_requested(self) -> None:
        if self.handshake is not None:  # AUTH TLS half done: no channel to say goodbye on
            self.transport.abort()
            return
        if self.transfer is not None:
            self.draining = True  # finish the transfer first (transfer_finished closes)
            return
        self.reply(421, "Server shutting down; closing control connection.")
        self.transport.close()

    # -- replies --------------------------------------------------------------------------
    def reply(self, code: int, text: str) -> None:
        self._send(encode(code, text))

    def reply_lines(self, code: int, first: str, lines, last: str) -> None:
        self._send(encode_lines(code, first, lines, last))

    def _send(self, data: bytes) -> None:
        if self._off_loop_replies is not None and threading.get_ident() != self._loop_thread:
            self._off_loop_replies.append(data)  # the loop writes them when the command ends
        else:
            self.transport.write(data)

    # -- command lines --------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        self._input += data
        self._process_input()
        if self.transport.pending() and not self.transport.closing:
            # The client sends commands but does not read the replies: stop reading until
            # it does, so replies cannot pile up without bound.
            self.transport.pause_reading()
            self.transport.when_sent(self._replies_sent)

    def _replies_sent(self, exc: BaseException | None) -> None:
        if exc is None and not self._held:
            self.transport.resume_reading()

    def _process_input(self) -> None:
        while not self.transport.closing:
            if self._held:
                if len(self._input) > 2 * MAX_LINE:  # a client that will not wait
                    self.transport.pause_reading()
                return
            end = self._input.find(b"\n")
            if end < 0:
                if len(self._input) > MAX_LINE + 1:  # + 1: room for the CR of CRLF
                    self._too_long()
                return
            raw = bytes(self._input[:end]).rstrip(b"\r")
            if self.transfer is not None and not self._allowed_during_transfer(raw):
                self._held = "transfer"  # answered in order once the transfer ends
                continue
            del self._input[: end + 1]
            if self._skipping:
                self._skipping = False
            elif len(raw) > MAX_LINE:
                self.reply(500, f"Command line too long (at most {MAX_LINE} bytes).")
            else:
                self.handle_line(_decode(raw))

    def _too_long(self) -> None:
        """A line longer than allowed and still unterminated: answer now, skip to its end."""
        self._input.clear()
        if not self._skipping:
            self._skipping = True
            self.reply(500, f"Command line too long (at most {MAX_LINE} bytes).")

    @staticmethod
    def _allowed_during_transfer(raw: bytes) -> bool:
        return split(_decode(raw))[0].upper() in DURING_TRANSFER

    def hold(self, reason: str) -> None:
        """Stop answering commands (they queue) until `release_input`."""
        self._held = reason

    def release_input(self) -> None:
        self._held = ""
        self.transport.resume_reading()
        self.scheduler.call_soon(self._process_input)

    def handle_line(self, line: str) -> None:
        """Pass one command through the gate to its handler; errors become replies."""
        word, arg = split(line)
        verb = lookup(word)
        executor = self.scheduler.executor
        if verb is None or not verb.disk or executor.inline:
            self.answering(self._dispatch, word, arg)
            return
        # Off the loop: the commands after this one wait (held), so nothing else touches
        # the session's state meanwhile; its replies are written from the loop.
        self.hold("disk")
        self._off_loop_replies = []
        executor.submit(lambda: self.answering(self._dispatch, word, arg), self._disk_done)

    def _disk_done(self, _result, exc: BaseException | None) -> None:
        replies, self._off_loop_replies = self._off_loop_replies, None
        for data in replies:
            self.transport.write(data)
        if exc is not None:
            log.error("FTP command failed: %r", exc)
            self.reply(451, "Local error in processing.")
        self.release_input()

    def _dispatch(self, word: str, arg: str) -> None:
        verb = gate(word, arg, self.user is not None, bool(self.user and self.user.write))
        if verb.name != "RNTO":
            self.rename_from = None  # RNTO must come right after RNFR
        getattr(self, f"ftp_{verb.name}")(arg)

    def answering(self, action, *args) -> None:
        """Run a command's work; what it raises (FTPReply, refused paths, OS errors) is
        answered as a reply."""
        try:
            action(*args)
        except FTPReply as answer:
            self.reply(answer.code, answer.text)
        except PathRefused as refused:
            self.reply(550, f"{str(refused)[:1].upper()}{str(refused)[1:]}.")
        except OSError as exc:
            answer = os_error(exc)
            self.reply(answer.code, answer.text)

    # -- what transfers call back -------------------------------------------------------
    def transfer_finished(self, transfer, code: int, text: str) -> None:
        self.reply(code, text)
        if transfer is self.transfer:
            self.transfer = None
        self._ended = [channel for channel in self._ended if channel.lingering]
        self._ended.append(transfer.channel)
        if self.draining:
            self.reply(421, "Server shutting down; closing control connection.")
            self.transport.close()
        elif self._held == "transfer":
            self.release_input()


def _decode(raw: bytes) -> str:
    """A command line as text: Telnet controls dropped, UTF-8 (RFC 2640)."""
    if b"\xff" in raw:
        raw = _TELNET.sub(b"", raw).replace(b"\xff\xff", b"\xff")
    return raw.decode(ENCODING, ERRORS)
