"""FTP over TLS (RFC 4217): AUTH PBSZ PROT CCC, and what the rest of the session asks of it.
A mixin of FTPSession.

The control connection is upgraded in place: AUTH TLS is answered (234) in clear, then the same
transport runs a bounded `Handshake` and every later byte, both ways, is TLS. Commands wait
(held) meanwhile. Data connections are protected after PROT P (by default with --tls-implicit):
their handshake starts once the transfer's 150 is sent, as vsftpd does and as ftplib and curl
expect, with the control connection's context, so a client may resume its session (session
cache and TLS 1.3 tickets; the standard library cannot demand the resumption, only allow it).
"""

from __future__ import annotations

import logging
import ssl

from ...net.tls import Handshake
from .replies import FTPReply

log = logging.getLogger("server.ftp")

#: AUTH mechanisms taken as TLS: RFC 4217's name, its older draft's, and SSL (old clients).
MECHANISMS = frozenset({"TLS", "TLS-C", "SSL"})


class SecurityCommands:
    # -- the control connection ---------------------------------------------------------
    def ftp_AUTH(self, arg: str) -> None:
        tls = self.settings.tls
        if tls is None:
            raise FTPReply(502, "AUTH not available: this server has no certificate.")
        if self.transport.secure:
            raise FTPReply(503, "The control connection is already protected by TLS.")
        if self.user is not None:  # RFC 4217 4: AUTH comes first; nothing to re-check later
            raise FTPReply(503, "Send AUTH TLS before logging in.")
        mechanism = arg.strip().upper()
        if mechanism not in MECHANISMS:
            raise FTPReply(504, f"AUTH {mechanism[:16]} not supported; use AUTH TLS.")
        self.reply(234, f"AUTH {mechanism} okay; start the TLS handshake.")
        self.hold("tls")  # nothing more is read as clear text
        self.transport.pause_reading()
        # Bytes sent after the AUTH line without waiting for the 234 can only be the start of
        # TLS (or garbage, which then fails the handshake): they go to TLS, never to commands.
        early = bytes(self._input)
        self._input.clear()
        self.transport.when_sent(lambda exc: exc is None and self._upgrade(early))

    def _upgrade(self, early: bytes) -> None:
        """The 234 is out, in clear: everything from here on is TLS."""
        tls = self.settings.tls
        self.transport.set_idle_timeout(None)  # the handshake's own deadline bounds it
        self.handshake = Handshake(
            self.transport, tls.certificate.context, tls.handshake_timeout, self._secured, early
        )

    def _secured(self) -> None:
        self.handshake = None
        log.debug("TLS on the control connection from %s", self.peer_host)
        self.transport.set_idle_timeout(self.settings.idle_timeout)
        self.release_input()

    def ftp_PBSZ(self, arg: str) -> None:
        self._need_tls("PBSZ")
        if not (arg.strip().isascii() and arg.strip().isdigit()):
            raise FTPReply(501, "Syntax error: PBSZ needs a number (0 with TLS).")
        self.pbsz = True
        self.reply(200, "PBSZ=0")  # TLS frames its own records: no buffer size applies

    def ftp_PROT(self, arg: str) -> None:
        self._need_tls("PROT")
        if not self.pbsz:
            raise FTPReply(503, "Send PBSZ 0 before PROT.")
        level = arg.strip().upper()
        if level == "P":
            self.protect_data = True
            self.reply(200, "Protection level set to P (data connections use TLS).")
        elif level == "C":
            if self.settings.tls_required:
                raise FTPReply(534, "PROT C refused: this server requires TLS on data too.")
            self.protect_data = False
            self.reply(200, "Protection level set to C (data connections in clear).")
        elif level in ("S", "E"):
            raise FTPReply(536, f"PROT {level} not supported; use P (or C).")
        else:
            raise FTPReply(504, f"PROT {level[:8]} not understood; use P or C.")

    def ftp_CCC(self, arg: str) -> None:
        self._need_tls("CCC", code=533)
        raise FTPReply(534, "CCC refused: the control connection stays encrypted (policy).")

    def _need_tls(self, verb: str, code: int = 503) -> None:
        if not self.transport.secure:
            raise FTPReply(code, f"{verb} needs a protected control connection: AUTH TLS first.")

    # -- what the rest of the session asks ----------------------------------------------
    def refuse_clear_login(self) -> None:
        """With --tls-required, USER and PASS over clear text are refused, saying why."""
        if self.settings.tls_required and not self.transport.secure:
            raise FTPReply(530, "TLS required: send AUTH TLS before logging in (--tls-required).")

    def refuse_clear_data(self) -> None:
        """With --tls-required, a transfer over a clear data connection is refused."""
        if self.settings.tls_required and not self.protect_data:
            raise FTPReply(521, "Data connections must be protected: send PBSZ 0 and PROT P.")

    def data_context(self) -> ssl.SSLContext | None:
        """The context a data connection's handshake uses; None: the data go in clear."""
        if not self.protect_data or self.settings.tls is None:
            return None
        return self.settings.tls.certificate.context

    def security_features(self) -> tuple[str, ...]:
        """FEAT lines for what TLS offers here (nothing without a certificate)."""
        if self.settings.tls is None:
            return ()
        return ("AUTH TLS", "PBSZ", "PROT")

    def security_status(self) -> str:
        control = "TLS" if self.transport.secure else "clear text"
        data = "P (TLS)" if self.data_context() else "C (clear)"
        return f"Control connection: {control}; data protection: {data}"
