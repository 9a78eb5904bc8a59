"""FTPS on the app hosts: with `balancer.tls`, every FTP replica offers `AUTH TLS` with the same
certificate and key, since the balancer passes FTP through (nginx's stream module) and the
client's TLS session ends at the replica.

The pair reaches each FTP host as two files, never an image layer: a named volume,
`<project>-ftp-tls`, holds them with mode 0600 (the folder 0700), owned by the user the
service's image runs as (its USER, read from the image), and every FTP container mounts it
read-only. The deploy's SSH user cannot give files to another uid, and the Docker engine it
drives can: a throwaway container of the service's own image, as root and without a network,
copies the pair from a 0700 staging folder (removed at once) into the volume. The container's
label `deploy.tls` names the pair's SHA-256, so a renewed certificate restarts the replicas
(one at a time, as any new version) with the new files.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from . import tls
from .wiring import TLS_DIR

if TYPE_CHECKING:
    from .inventory import Inventory
    from .remote import Remote

LABEL = "deploy.tls"  # on FTP containers that serve the pair: its SHA-256

# Runs in the throwaway container as root: the image's user may be a name, a uid, or
# uid:gid; the files are written beside their final names and renamed, so a replica starting
# meanwhile reads the old pair or the new one, never half of one.
_INSTALL = """\
import os, pwd, shutil, sys
source, target, user, *names = sys.argv[1:]
user, _, group = (user or "root").partition(":")
entry = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
uid, gid = entry.pw_uid, int(group) if group.isdigit() else entry.pw_gid
os.chown(target, uid, gid)
os.chmod(target, 0o700)
for name in names:
    new = os.path.join(target, f".{name}.new")
    shutil.copyfile(os.path.join(source, name), new)
    os.chown(new, uid, gid)
    os.chmod(new, 0o600)
    os.replace(new, os.path.join(target, name))
"""


def volume(inv: Inventory) -> str:
    return f"{inv.settings.project}-ftp-tls"


def run_args(inv: Inventory) -> list[str]:
    """`docker run` arguments of an FTP replica: the volume, read-only, and the pair's label."""
    return ["--volume", f"{volume(inv)}:{TLS_DIR}:ro", "--label", f"{LABEL}={fingerprint(inv)}"]


def fingerprint(inv: Inventory) -> str:
    return tls.fingerprint(inv.balancer.tls) if inv.balancer.tls else ""


def install(remote: Remote, inv: Inventory, image_id: str) -> None:
    """Put the pair into the host's volume, mode 0600, owned by the user the image runs as."""
    pair = inv.balancer.tls
    user = ((remote.inspect_image(image_id) or {}).get("Config") or {}).get("User") or ""
    stage = remote.run("mktemp -d").stdout.strip()  # 0700, the SSH user's
    try:
        for source, name in zip((pair.cert, pair.key), tls.FILES, strict=True):
            remote.put_text(source.read_text(), f"{stage}/{name}", mode=0o600)
        remote.docker(
            "run", "--rm", "--user", "0", "--network", "none", "--entrypoint", "python3",
            "--volume", f"{stage}:/in:ro", "--volume", f"{volume(inv)}:/out",
            image_id, "-c", _INSTALL, "/in", "/out", user, *tls.FILES,
        )  # fmt: skip
    finally:
        remote.run(f"rm -rf {shlex.quote(stage)}", check=False)
