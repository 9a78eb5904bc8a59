"""Folders and files on the control connection: PWD CWD CDUP MKD RMD DELE RNFR RNTO SIZE MDTM
MLST. A mixin of FTPSession; every path goes through the user's Jail."""

from __future__ import annotations

import os
import stat

from .listing import facts_line, modify_time
from .replies import FTPReply, quote


class FileCommands:
    # -- paths ----------------------------------------------------------------------------
    def path(self, arg: str) -> tuple[str, str]:
        """(virtual, real) for a client's path, symlinks resolved; PathRefused if it escapes."""
        virtual = self.fs.virtual(arg, self.cwd)
        return virtual, self.fs.real(virtual)

    def entry(self, arg: str) -> tuple[str, str]:
        """(virtual, real) of the name itself, for commands that act on it, not on its target."""
        virtual = self.fs.virtual(arg, self.cwd)
        return virtual, self.fs.entry(virtual)

    def regular_file(self, arg: str) -> tuple[str, os.stat_result]:
        virtual, real = self.path(arg)
        st = os.stat(real)
        if not stat.S_ISREG(st.st_mode):
            raise FTPReply(550, f"{virtual}: not a regular file.")
        return virtual, st

    # -- folders --------------------------------------------------------------------------
    def ftp_PWD(self, arg: str) -> None:
        self.reply(257, f"{quote(self.cwd)} is the current directory.")

    def ftp_CWD(self, arg: str) -> None:
        virtual, real = self.path(arg)
        if not stat.S_ISDIR(os.stat(real).st_mode):
            raise FTPReply(550, f"{virtual}: Not a directory.")
        if not os.access(real, os.X_OK):
            raise FTPReply(550, f"{virtual}: Permission denied.")
        self.cwd = virtual
        self.reply(250, f"Directory changed to {virtual}.")

    def ftp_CDUP(self, arg: str) -> None:
        self.ftp_CWD("..")

    def ftp_MKD(self, arg: str) -> None:
        virtual, real = self.entry(arg)
        os.mkdir(real)
        self.reply(257, f"{quote(virtual)} directory created.")

    def ftp_RMD(self, arg: str) -> None:
        virtual, real = self.entry(arg)
        if virtual == "/":
            raise FTPReply(550, "Cannot remove the root directory.")
        os.rmdir(real)
        self.reply(250, f"Directory {virtual} removed.")

    # -- files ----------------------------------------------------------------------------
    def ftp_DELE(self, arg: str) -> None:
        virtual, real = self.entry(arg)
        if stat.S_ISDIR(os.lstat(real).st_mode):
            raise FTPReply(550, f"{virtual}: Is a directory; use RMD.")
        os.unlink(real)
        self.reply(250, f"File {virtual} removed.")

    def ftp_RNFR(self, arg: str) -> None:
        virtual, real = self.entry(arg)
        if virtual == "/":
            raise FTPReply(550, "Cannot rename the root directory.")
        os.lstat(real)  # it must exist
        self.rename_from = (virtual, real)
        self.reply(350, "Ready for destination name (RNTO).")

    def ftp_RNTO(self, arg: str) -> None:
        if self.rename_from is None:
            raise FTPReply(503, "Bad sequence of commands: send RNFR first.")
        (source, real_source), self.rename_from = self.rename_from, None
        virtual, real = self.entry(arg)
        if virtual == "/":
            raise FTPReply(550, "Cannot replace the root directory.")
        os.rename(real_source, real)
        self.reply(250, f"Renamed {source} to {virtual}.")

    def ftp_SIZE(self, arg: str) -> None:
        _, st = self.regular_file(arg)
        self.reply(213, str(st.st_size))

    def ftp_MDTM(self, arg: str) -> None:
        _, st = self.regular_file(arg)
        self.reply(213, modify_time(st))

    def ftp_MLST(self, arg: str) -> None:
        virtual, real = self.path(arg or self.cwd)
        line = facts_line(virtual, os.stat(real), self.mlst_facts, self.user.write)
        self.reply_lines(250, f"Listing {virtual}", [line], "End.")
