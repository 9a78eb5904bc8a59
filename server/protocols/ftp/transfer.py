"""One transfer command (RETR, STOR, APPE, LIST, NLST, MLSD) from its data connection to its
final reply. The session starts it; the data channel calls `ready` or `finish`; the transfer
calls back `session.transfer_finished` exactly once."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from ...net.tls import Handshake
from . import counters
from .replies import is_storage_error
from .upload import UploadFile

log = logging.getLogger("server.ftp")

READ_SIZE = 256 * 1024  # ASCII downloads, which cannot use sendfile


class Transfer:
    """Base: waits for the data connection, sends 150, runs `begin`, ends with `finish`."""

    kind = "transfer"
    log_level = logging.INFO

    def __init__(self, session, channel, what: str):
        self.session = session
        self.channel = channel
        self.what = what
        self.transport = None
        self.handshake: Handshake | None = None  # PROT P: the data connection's, while it runs
        self.done = False

    def start(self) -> None:
        self.channel.attach(self)

    def ready(self, transport) -> None:
        self.transport = transport
        mode = "BINARY" if self.session.binary else "ASCII"
        self.session.reply(150, f"Opening {mode} mode data connection for {self.what}.")
        context = self.session.data_context()
        if context is None:
            self.begin()
            return
        # PROT P: ftplib starts TLS once it has the 150, curl before (its ClientHello waits in
        # the socket); bounded by the handshake's deadline, not the idle timeout, meanwhile.
        # The client resumes the control connection's session if it likes; no new tickets.
        transport.set_idle_timeout(None)
        timeout = self.session.settings.tls.handshake_timeout
        self.handshake = Handshake(transport, context, timeout, self._secured, tickets=False)

    def _secured(self) -> None:
        self.handshake = None
        how = "resumed" if self.transport.resumed else "a new session"
        log.debug("TLS data connection for %s: %s", self.what, how)
        self.transport.set_idle_timeout(self.session.settings.data_timeout)
        self.transport.pause_reading()  # as before TLS: `begin` decides whether it reads
        self.begin()

    def begin(self) -> None:
        raise NotImplementedError

    def data_received(self, data: bytes) -> None:
        """Bytes from the client (uploads only read)."""

    def eof_received(self) -> None:
        """The client finished sending (uploads only read)."""

    def connection_lost(self, exc: BaseException | None) -> None:
        if self.done:
            return
        if self.handshake is not None:  # refused, broken or too slow: logged by the transport
            self.finish(425, "TLS on the data connection failed; transfer aborted.")
        else:
            self.finish(426, "Data connection lost; transfer aborted.")

    def abort(self) -> None:
        """ABOR: stop now; the transfer's own reply is 426 (the ABOR's is the session's)."""
        self.finish(426, "Transfer aborted.")

    def sent(self, exc: BaseException | None) -> None:
        """The transport's verdict on everything this transfer queued."""
        if exc is None:
            self.finish(226, "Transfer complete.")
        elif isinstance(exc, (ConnectionError, TimeoutError)):
            self.finish(426, "Data connection lost; transfer aborted.")
        else:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            self.finish(451, f"Transfer failed: {reason}.")

    def finish(self, code: int, text: str) -> None:
        """End the transfer with this reply: release what it holds, close the data connection."""
        if self.done:
            return
        self.done = True
        ok = code < 300
        if self.handshake is not None:
            self.handshake.cancel()
        self.log(code)
        counters.transfer_ended(self.kind, code, self.moved(ok))
        try:
            self.release(ok)
        finally:
            self.channel.close(abort=not ok)
            self.session.transfer_finished(self, code, text)

    def release(self, ok: bool) -> None:
        """Give back files and the like. May be extended."""

    def moved(self, ok: bool) -> int:
        """File bytes this transfer moved, for ftp_transfer_bytes_total. May be overridden."""
        return 0

    def log(self, code: int) -> None:
        """One line per file transferred (listings: debug level), like a transfer log."""
        user = self.session.user.name if self.session.user else "-"
        log.log(self.log_level, "%s %s %s %s: %d", self.session.peer_host, user, self.kind,
                self.what, code)  # fmt: skip

    def progress(self) -> str:
        return f"{self.what} in progress"


class Download(Transfer):
    """RETR: binary through `os.sendfile` (the transport's send_file); ASCII converted to CRLF."""

    kind = "download"

    def __init__(self, session, channel, what: str, file, offset: int, size: int):
        super().__init__(session, channel, what)
        self.file = file
        self.offset = offset
        self.size = size

    def begin(self) -> None:
        if self.session.binary:
            self.transport.send_file(self.file, self.offset, self.size - self.offset, self.sent)
        else:
            self.transport.send_producer(to_crlf(self._chunks()), self.sent)

    def _chunks(self) -> Iterator[bytes]:
        self.file.seek(self.offset)
        while chunk := self.file.read(READ_SIZE):
            yield chunk

    def release(self, ok: bool) -> None:
        self.file.close()

    def moved(self, ok: bool) -> int:
        return self.size - self.offset if ok else 0  # partial progress is the transport's


class Listing(Transfer):
    """LIST, NLST, MLSD: lines produced as the data connection drains."""

    kind = "listing"
    log_level = logging.DEBUG

    def __init__(self, session, channel, what: str, chunks: Iterator[bytes]):
        super().__init__(session, channel, what)
        self.chunks = chunks

    def begin(self) -> None:
        self.transport.send_producer(self.chunks, self.sent)


class Receive(Transfer):
    """STOR, APPE: bytes into an UploadFile, committed on the client's end of file."""

    kind = "upload"

    def __init__(self, session, channel, what: str, upload: UploadFile):
        super().__init__(session, channel, what)
        self.upload = upload
        self.ascii = not session.binary
        self._cr = b""  # ASCII: a CR that ended the last chunk, maybe half of a CRLF
        self.received = 0

    def begin(self) -> None:
        self._prepare()

    def _prepare(self) -> None:
        """Copy the kept part (REST, APPE) a piece per loop turn, then start reading."""
        if self.done:
            return
        try:
            more = self.upload.copy_some()
        except OSError as exc:
            self.failed(exc)
            return
        if more:
            self.session.scheduler.call_soon(self._prepare)
        else:
            self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        self.received += len(data)
        if self.ascii:
            data, self._cr = from_crlf(data, self._cr)
        try:
            self.upload.write(data)
        except OSError as exc:
            self.failed(exc)

    def eof_received(self) -> None:
        try:
            self.upload.write(self._cr)
            self.upload.commit()
        except OSError as exc:
            self.failed(exc)
            return
        self.finish(226, "Transfer complete.")

    def failed(self, exc: OSError) -> None:
        log.warning("upload to %s failed: %s", self.upload.target, exc)
        if is_storage_error(exc):
            self.finish(452, f"Insufficient storage space: {exc.strerror}; upload discarded.")
        else:
            self.finish(451, f"Local error: {exc.strerror}; upload discarded.")

    def release(self, ok: bool) -> None:
        if not ok:
            self.upload.discard()

    def moved(self, ok: bool) -> int:
        return self.received

    def progress(self) -> str:
        return f"{self.what}: {self.received} bytes received"


def to_crlf(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """ASCII mode on the wire: every line ends in CRLF, whether it ended in LF or CRLF on disk."""
    cr = b""
    for chunk in chunks:
        chunk, cr = _split_cr(cr + chunk)
        yield chunk.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    yield cr


def from_crlf(data: bytes, cr: bytes) -> tuple[bytes, bytes]:
    """ASCII mode to disk: CRLF becomes LF. `cr` carries a CR that ended the previous chunk."""
    data, cr = _split_cr(cr + data)
    return data.replace(b"\r\n", b"\n"), cr


def _split_cr(data: bytes) -> tuple[bytes, bytes]:
    """A trailing CR may be half of a CRLF split across chunks: hold it back."""
    if data.endswith(b"\r"):
        return data[:-1], b"\r"
    return data, b""
