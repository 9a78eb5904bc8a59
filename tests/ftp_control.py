"""A raw FTP control connection for tests that speak the protocol line by line: a PROXY header
or nothing first, then commands and whole (multi-line) replies."""

from __future__ import annotations

import re
import socket

from harness import ServerProcess


class RawControl:
    def __init__(self, server: ServerProcess, prefix: bytes = b""):
        self.server = server
        self.sock = socket.create_connection((server.host, server.port), timeout=15)
        self.sock.sendall(prefix)
        self.lines = self.sock.makefile("rb")

    def reply(self) -> str:
        """A whole reply, its lines joined (a multi-line one starts with 'NNN-')."""
        lines = [self.lines.readline().decode()]
        while not re.match(r"\d{3} ", lines[-1]):
            assert lines[-1], f"closed mid-reply after {lines[:-1]!r}"
            lines.append(self.lines.readline().decode())
        return "".join(lines).rstrip("\r\n")

    def command(self, line: str) -> str:
        self.sock.sendall(f"{line}\r\n".encode())
        return self.reply()

    def login(self, user: str = "anonymous", password: str = "guest@") -> None:
        assert self.reply().startswith("220 ")
        assert self.command(f"USER {user}").startswith("331 ")
        assert self.command(f"PASS {password}").startswith("230 ")

    def epsv(self) -> int:
        return int(re.search(r"\|\|\|(\d+)\|", self.command("EPSV")).group(1))

    def close(self) -> None:
        self.sock.close()
