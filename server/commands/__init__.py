"""The CLI's commands, each in its own module, imported only when it is the one being run.

Importing every service for every command would make a health probe load HTTP and FTP, and a
fork-model echo server copy their memory into every child, so the registry names modules.
"""

from __future__ import annotations

import importlib
from typing import NamedTuple


class Entry(NamedTuple):
    help: str
    module: str  # a module of this package
    attribute: str  # a base.Command (a service) or a base.Tool in it

    def load(self):
        return getattr(importlib.import_module(f".{self.module}", __name__), self.attribute)


ENTRIES = {
    "http": Entry("HTTP/1.1: static files, handler modules, a WSGI app, health and metrics",
                  "http", "HTTP"),
    "ftp": Entry("FTP: the file library for ftplib, curl, lftp, FileZilla", "ftp", "FTP"),
    "echo": Entry("echo every byte (TCP, Unix) or datagram (UDP, Unix datagram) back",
                  "echo", "ECHO"),
    "handler": Entry("run your own socketserver.BaseRequestHandler subclass under a blocking model",
                     "handler", "HANDLER"),
    "models": Entry("list the models and when to use each", "models", "MODELS"),
    "ftp-user": Entry("manage the FTP users file", "ftp", "FTP_USER"),
    "probe": Entry("check once that a server answers (http, ftp, tcp or udp URL): "
                   "exit 0 healthy, 1 not", "probe", "PROBE"),
}  # fmt: skip
