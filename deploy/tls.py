"""HTTPS at the balancer: the inventory's `balancer.tls` (a certificate chain and its key, PEM
files on the deployer's machine) and each HTTP service's `tls_listen` port.

The pair goes to every balancer host as files, never into an image: a 0700 folder beside
nginx.conf (inside the folder nginx mounts read-only), then the two files with mode 0600; nginx's
master process reads them as root. The rendered configuration names the pair's SHA-256, so a
renewed certificate changes it, and the deploy's usual switch uploads the files and reloads.
"""

from __future__ import annotations

import hashlib
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import InventoryError
from .templates import template

if TYPE_CHECKING:
    from .inventory import Service
    from .remote import Remote
    from .toml_section import Section

FOLDER = "tls"  # beside nginx.conf on the host, and in the container's mount
FILES = ("server.pem", "server.key")  # what the folder holds: the chain, its key


@dataclass(frozen=True)
class Tls:
    cert: Path
    key: Path


def parse(t: Section) -> Tls:
    """`tls = { cert = PATH, key = PATH }`, relative to the inventory; both files must exist."""
    t.only("cert", "key")
    paths = []
    for key in ("cert", "key"):
        path = t.path.parent / Path(t.require(key, str)).expanduser()  # absolute ones stay
        if not path.is_file():
            raise InventoryError(f"inventory {t.path}: {t.where}.{key}: no file {path}")
        paths.append(path)
    return Tls(cert=paths[0], key=paths[1])


def listen_line(service: Service) -> str:
    """The HTTPS `listen` of a service's server block (after its plain one), or nothing."""
    if service.tls_listen is None:
        return ""
    return f"\n        listen {service.tls_listen} ssl http2;"


def nginx_block(tls: Tls | None, mount: str) -> str:
    """The `http {}` lines naming the pair as the container sees it (under `mount`)."""
    if tls is None:
        return ""
    dir = f"{mount}/{FOLDER}"
    return template("nginx-tls.conf.in").substitute(dir=dir, fingerprint=fingerprint(tls))


def fingerprint(tls: Tls) -> str:
    """The pair's SHA-256: what changes when either file is renewed."""
    return hashlib.sha256(tls.cert.read_bytes() + tls.key.read_bytes()).hexdigest()


def upload(remote: Remote, tls: Tls | None, directory: str) -> None:
    """The pair into `directory`/tls on the host: the folder 0700 first, so no moment leaves
    the key readable by others, then each file 0600."""
    if tls is None:
        return
    folder = shlex.quote(f"{directory}/{FOLDER}")
    remote.run(f"mkdir -p {folder} && chmod 0700 {folder}")
    for source, name in zip((tls.cert, tls.key), FILES, strict=True):
        remote.put_text(source.read_text(), f"{directory}/{FOLDER}/{name}", mode=0o600)
