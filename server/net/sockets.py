"""Create listening sockets for every transport, with errors that name the problem; set the
TCP options a protocol asks for on its connections."""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import stat

from ..errors import BindError
from .address import Address, resolve
from .protocol import SocketOption


class Listener:
    """A bound listening (stream) or receiving (datagram) socket and what it is bound to."""

    def __init__(self, sock: socket.socket, address: Address, own_queue: bool = False):
        self.sock = sock
        self.address = address
        self.datagram = sock.type == socket.SOCK_DGRAM
        #: Its accept queue is this process's alone (SO_REUSEPORT): nobody else would take
        #: what waits there once it stops accepting.
        self.own_queue = own_queue
        self._owner_pid = os.getpid()

    @property
    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        """Close our copy of the socket; only the creating process removes a Unix path."""
        self.sock.close()
        if self.address.is_unix and os.getpid() == self._owner_pid:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.address.path)

    def __repr__(self) -> str:
        kind = "udp" if self.datagram else "tcp"
        if self.address.is_unix:
            kind = "unix-dgram" if self.datagram else "unix"
        return f"<Listener {kind} {self.address}>"


def open_listener(
    address: Address, *, datagram: bool = False, backlog: int = 1024, reuse_port: bool = False
) -> Listener:
    """Bind (and for streams, listen on) `address`; the socket is left non-blocking.

    `reuse_port` (TCP only): SO_REUSEPORT, so that each prefork worker listens on a socket of
    its own on one address, the kernel spreading new connections among them by a hash."""
    kind = socket.SOCK_DGRAM if datagram else socket.SOCK_STREAM
    if address.is_unix:
        sock, bound = _bind_unix(address.path, kind)
    else:
        sock, bound = _bind_inet(address, kind, reuse_port)
    try:
        if not datagram:
            sock.listen(backlog)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return Listener(sock, bound, own_queue=reuse_port)


def hold_port(address: Address) -> Listener:
    """Bind a TCP socket with SO_REUSEPORT and never listen on it: it keeps the port (port 0
    picks one) for the workers' own sockets to join, and takes no connection, since Linux only
    spreads connections among the sockets of the group that listen."""
    sock, bound = _bind_inet(address, socket.SOCK_STREAM, reuse_port=True)
    return Listener(sock, bound)


def _bind_inet(
    address: Address, kind: int, reuse_port: bool = False
) -> tuple[socket.socket, Address]:
    family, sockaddr = resolve(address, kind)
    sock = socket.socket(family, kind)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6 and address.host in ("::", ""):
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(sockaddr)
    except OSError as exc:
        sock.close()
        raise BindError(f"cannot bind {address}: {_reason(exc)}") from None
    host, port = sock.getsockname()[:2]
    return sock, Address(host=host, port=port)


def _bind_unix(path: str, kind: int) -> tuple[socket.socket, Address]:
    _remove_stale_unix_socket(path, kind)
    sock = socket.socket(socket.AF_UNIX, kind)
    try:
        sock.bind(path)
    except OSError as exc:
        sock.close()
        raise BindError(f"cannot bind unix:{path}: {_reason(exc)}") from None
    return sock, Address(path=path)


def _remove_stale_unix_socket(path: str, kind: int) -> None:
    """Unlink a socket file left by a dead server; refuse to touch a live one or a non-socket."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise BindError(f"cannot bind unix:{path}: a file that is not a socket is in the way")
    if kind == socket.SOCK_STREAM:
        probe = socket.socket(socket.AF_UNIX, kind)
        try:
            probe.connect(path)
        except OSError:
            pass  # nobody answers: the file is stale
        else:
            raise BindError(f"cannot bind unix:{path}: address already in use")
        finally:
            probe.close()
    os.unlink(path)


def _reason(exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return "address already in use"
    if exc.errno == errno.EACCES:
        return "permission denied (ports below 1024 need privileges)"
    if exc.errno == errno.EADDRNOTAVAIL:
        return "address not available on this host"
    return exc.strerror or str(exc)


def set_tcp_options(sock: socket.socket, options: tuple[SocketOption, ...]) -> None:
    """Set a protocol's `tcp_options` on a TCP connection; a Unix socket has none of them."""
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        for level, option, value in options:
            sock.setsockopt(level, option, value)
