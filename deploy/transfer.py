"""Moving an image to a host without a registry: `docker save` here, `docker load` there, over
one SSH channel.

Fabric's `run(in_stream=...)` would read the stream a byte at a time and decode it as text, so
the tar goes straight into a Paramiko channel running `docker load`, in 1 MiB writes.

Layers the host already has (by chain ID) are left out of the tar: `docker load` skips a layer
whose chain ID it finds in its store without opening the layer's file, so a new version that
changes one small layer sends that layer and the image's config, not the whole image. Should a
host's engine disagree, the full tar is sent once more.
"""

from __future__ import annotations

import logging
import posixpath
import tarfile
import time
from dataclasses import dataclass

from .errors import DeployError
from .images import SavedImage
from .remote import Remote

log = logging.getLogger(__name__)

CHUNK = 1 << 20
WINDOW = 16 << 20


@dataclass(frozen=True)
class Sent:
    layers: int  # layers sent
    skipped: int  # layers the host already had
    bytes: int
    seconds: float


def send(remote: Remote, saved: SavedImage, *, timeout: float = 900) -> Sent:
    """Load `saved` into the host's engine, sending only the layers it lacks."""
    have = remote.layer_chains() if saved.layers else set()
    skip = {member for member, chain in saved.layers if chain in have}
    try:
        return _load(remote, saved, skip, timeout)
    except DeployError as exc:
        if not skip:
            raise
        log.warning(
            "%s: loading without its %d layers failed (%s); sending all", remote, len(skip), exc
        )
        return _load(remote, saved, set(), timeout)


def _load(remote: Remote, saved: SavedImage, skip: set[str], timeout: float) -> Sent:
    started = time.monotonic()
    channel = remote.conn.transport.open_session(window_size=WINDOW)
    channel.settimeout(timeout)
    try:
        channel.exec_command("docker load")
        writer = _ChannelWriter(channel)
        try:
            with tarfile.open(saved.path) as source:
                _copy_tar(source, writer, skip)
        except OSError as exc:  # the far end closed: docker load failed, or the link did
            err = _drain(channel.makefile_stderr("rb"))
            reason = err.strip().splitlines()[-1] if err.strip() else str(exc)
            raise DeployError(f"{remote}: sending {saved.image} failed: {reason}") from exc
        channel.shutdown_write()
        out = _drain(channel.makefile("rb"))
        err = _drain(channel.makefile_stderr("rb"))
        status = channel.recv_exit_status()
    except OSError as exc:  # includes socket.timeout and a dropped connection
        raise DeployError(f"{remote}: sending {saved.image} failed: {exc}") from exc
    finally:
        channel.close()
    if status != 0:
        last = (err.strip() or out.strip()).splitlines()[-1:] or ["?"]
        raise DeployError(f"{remote}: docker load of {saved.image} exited {status}: {last[0]}")
    if remote.image_id(saved.image.id) is None:
        raise DeployError(f"{remote}: docker load finished but {saved.image} is not there")
    return Sent(
        layers=len(saved.layers) - len(skip),
        skipped=len(skip),
        bytes=writer.sent,
        seconds=time.monotonic() - started,
    )


def _copy_tar(source: tarfile.TarFile, writer, skip: set[str]) -> None:
    members = source.getmembers()
    # A kept symlink (a duplicate layer) needs its target, even if that layer is skipped.
    for m in members:
        if m.issym() and m.name not in skip:
            skip.discard(posixpath.normpath(posixpath.join(posixpath.dirname(m.name), m.linkname)))
    with tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT) as out:
        for m in members:
            if m.name in skip:
                continue
            out.addfile(m, source.extractfile(m) if m.isfile() else None)
    writer.flush()


def _drain(stream) -> str:
    try:
        return stream.read().decode(errors="replace")
    except OSError:
        return ""


class _ChannelWriter:
    """A file-like write end for tarfile: buffers to CHUNK, then sendall on the channel."""

    def __init__(self, channel):
        self.channel, self.buffer, self.sent = channel, bytearray(), 0

    def write(self, data: bytes) -> int:
        self.buffer += data
        if len(self.buffer) >= CHUNK:
            self.flush()
        return len(data)

    def flush(self) -> None:
        if self.buffer:
            self.channel.sendall(bytes(self.buffer))
            self.sent += len(self.buffer)
            self.buffer.clear()

    def close(self) -> None:
        self.flush()
