"""Data connections and the commands that use them: PASV EPSV PORT EPRT REST ABOR RETR STOR
APPE LIST NLST MLSD. A mixin of FTPSession."""

from __future__ import annotations

import os
import stat
import time

from . import addressing
from .channels import ActiveChannel, PassiveChannel
from .listing import facts_line, folder_lines, lines_to_chunks, ls_line
from .replies import FTPReply
from .transfer import Download, Listing, Receive
from .upload import UploadFile


class TransferCommands:
    # -- data connections ---------------------------------------------------------------
    def ftp_PASV(self, arg: str) -> None:
        if self.epsv_all:
            raise FTPReply(501, "PASV not allowed after EPSV ALL; use EPSV.")
        local = self.transport.sockname()[0]
        if not addressing.is_ipv4(local):
            raise FTPReply(425, "PASV needs IPv4; use EPSV.")
        channel = self._open_passive()
        advertised = self.settings.masquerade or local
        self.reply(227, addressing.pasv_text(advertised, channel.port))

    def ftp_EPSV(self, arg: str) -> None:
        if arg.strip().upper() == "ALL":
            self.epsv_all = True
            self.reply(200, "EPSV ALL okay: only EPSV from now on.")
            return
        addressing.epsv_protocol(arg, self.transport.sockname()[0])
        channel = self._open_passive()
        self.reply(229, addressing.epsv_text(channel.port))

    def ftp_PORT(self, arg: str) -> None:
        self._open_active(*addressing.parse_port(arg), "PORT")

    def ftp_EPRT(self, arg: str) -> None:
        self._open_active(*addressing.parse_eprt(arg), "EPRT")

    def _open_passive(self) -> PassiveChannel:
        if not self.peer_host:
            raise FTPReply(425, "Data connections need a TCP control connection.")
        self._drop_channel()
        where = (self.transport.sockname()[0], self.settings.passive_ports)
        settings = self.settings
        self.data = PassiveChannel(
            self.scheduler,
            self.links,
            settings.data_timeout,
            where,
            self.peer_host,
            settings.proxy,
        )
        return self.data

    def _open_active(self, host: str, port: int, verb: str) -> None:
        if self.epsv_all:
            raise FTPReply(501, f"{verb} not allowed after EPSV ALL; use EPSV.")
        addressing.check_active(host, port, self.peer_host)
        self._drop_channel()
        local = self.transport.sockname()[0]
        self.data = ActiveChannel(
            self.scheduler, self.links, self.settings.data_timeout, local, (host, port)
        )
        self.reply(200, f"{verb} command successful.")

    def _drop_channel(self) -> None:
        if self.data is not None:
            self.data.close(abort=True)
            self.data = None

    def ftp_REST(self, arg: str) -> None:
        text = arg.strip()
        if not (text.isascii() and text.isdigit()):
            raise FTPReply(501, "Syntax error: REST needs a byte offset (a number >= 0).")
        self.rest = int(text)
        self.reply(350, f"Restarting at {self.rest}; send RETR or STOR.")

    def ftp_ABOR(self, arg: str) -> None:
        if self.transfer is not None:
            self.transfer.abort()  # replies 426 for the transfer command
            self.reply(226, "ABOR command successful.")
        elif self.data is not None:
            self._drop_channel()
            self.reply(225, "ABOR command successful; data connection closed.")
        else:
            self.reply(225, "No transfer to abort.")

    # -- starting a transfer ------------------------------------------------------------
    def _transfer(self, make) -> None:
        """Start the transfer `make(channel, rest)` builds, on the channel set up before.

        The channel serves this one command: if `make` refuses (550 ...), it is closed.
        """
        if self.data is None:
            raise FTPReply(425, "Use PASV, EPSV, PORT or EPRT first.")
        self.refuse_clear_data()  # the channel stays for a PROT P and the same command again
        channel, self.data = self.data, None
        rest, self.rest = self.rest, 0
        try:
            transfer = make(channel, rest)
        except BaseException:
            channel.close(abort=True)
            raise
        self.transfer = transfer
        transfer.start()

    def ftp_RETR(self, arg: str) -> None:
        self._transfer(lambda channel, rest: self._download(channel, arg, rest))

    def _download(self, channel, arg: str, rest: int) -> Download:
        virtual, real = self.path(arg)
        # O_NONBLOCK: opening a FIFO must not hang the loop; it is refused just below.
        fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        file = os.fdopen(fd, "rb")
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise FTPReply(550, f"{virtual}: not a regular file.")
            if rest > st.st_size:
                raise FTPReply(554, f"Invalid REST {rest}: {virtual} has {st.st_size} bytes.")
        except BaseException:
            file.close()
            raise
        what = f"{virtual} ({st.st_size - rest} bytes)"
        return Download(self, channel, what, file, rest, st.st_size)

    def ftp_STOR(self, arg: str) -> None:
        self._transfer(lambda channel, rest: self._upload(channel, arg, rest, append=False))

    def ftp_APPE(self, arg: str) -> None:
        self._transfer(lambda channel, rest: self._upload(channel, arg, rest, append=True))

    def _upload(self, channel, arg: str, rest: int, append: bool) -> Receive:
        virtual, real = self.entry(arg)
        try:
            st = os.stat(real)
        except FileNotFoundError:
            size = 0
        else:
            if not stat.S_ISREG(st.st_mode):
                raise FTPReply(550, f"{virtual}: not a regular file.")
            size = st.st_size
        keep = size if append else rest
        if keep > size:
            raise FTPReply(554, f"Invalid REST {rest}: {virtual} has {size} bytes.")
        return Receive(self, channel, virtual, UploadFile(real, keep))

    # -- listings -----------------------------------------------------------------------
    def ftp_LIST(self, arg: str) -> None:
        self._transfer(lambda channel, rest: self._listing(channel, arg, self.long_lines))

    def ftp_NLST(self, arg: str) -> None:
        self._transfer(lambda channel, rest: self._listing(channel, arg, self._name_lines))

    def ftp_MLSD(self, arg: str) -> None:
        self._transfer(lambda channel, rest: self._listing(channel, arg, self._fact_lines))

    def _listing(self, channel, arg: str, lines) -> Listing:
        while arg.startswith("-"):  # `LIST -la [path]`: ls options, which we ignore
            arg = arg.partition(" ")[2]
        virtual, real = self.path(arg or ".")
        return Listing(self, channel, virtual, lines_to_chunks(lines(virtual, real)))

    def long_lines(self, virtual: str, real: str):
        """`ls -l` lines for a folder's entries, or for one file (LIST, STAT <path>)."""
        now = time.time()
        if os.path.isdir(real):
            return folder_lines(self.fs, real, lambda name, st: ls_line(name, st, now))
        return iter([ls_line(os.path.basename(virtual), os.stat(real), now)])

    def _name_lines(self, virtual: str, real: str):
        if os.path.isdir(real):
            return folder_lines(self.fs, real, lambda name, st: name)
        os.stat(real)
        return iter([virtual])

    def _fact_lines(self, virtual: str, real: str):
        if not os.path.isdir(real):
            os.stat(real)
            raise FTPReply(501, f"{virtual} is not a directory; use MLST for one file.")
        facts, writable = self.mlst_facts, self.user.write
        return folder_lines(self.fs, real, lambda name, st: facts_line(name, st, facts, writable))
