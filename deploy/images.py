"""The deployer's side of the images: build them, name their version, save each one once.

A saved image is a tar file (`docker save`) with an index of its layers: which member holds
which layer, and that layer's chain ID. The transfer uses the index to leave out the layers a
host already has (transfer.py).
"""

from __future__ import annotations

import json
import logging
import shlex
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .errors import DeployError
from .inventory import Build
from .remote import VERSION_LABEL, chain_ids

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LocalImage:
    ref: str
    id: str  # sha256:...
    version: str  # the image's version label, or its short ID
    size: int

    @property
    def short_id(self) -> str:
        return self.id.removeprefix("sha256:")[:12]

    def __str__(self) -> str:
        return f"{self.ref} {self.version} ({self.short_id})"


@dataclass
class SavedImage:
    image: LocalImage
    path: Path
    layers: list[tuple[str, str]] = field(default_factory=list)  # (tar member, chain ID)


def _docker(*args: str, timeout: float | None = None) -> subprocess.CompletedProcess:
    log.debug("local$ docker %s", shlex.join(args))
    try:
        return subprocess.run(
            ["docker", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError:
        raise DeployError("docker is not installed on this machine (the deployer)") from None


def build(ref: str, spec: Build, root: Path) -> None:
    """`docker build` (its cache makes an unchanged image a quick no-op)."""
    args = ["build", "-q", "-t", ref]
    if spec.dockerfile:
        args += ["-f", str(root / spec.dockerfile)]
    if spec.target:
        args += ["--target", spec.target]
    for key, value in spec.args.items():
        args += ["--build-arg", f"{key}={value}"]
    result = _docker(*args, str(root / spec.context))
    if result.returncode != 0:
        tail = [line for line in result.stderr.splitlines() if line.strip()][-5:]
        for line in tail:
            log.error("docker build: %s", line)
        raise DeployError(f"building {ref} failed: {tail[-1] if tail else 'no output'}")


def resolve(ref: str) -> LocalImage:
    result = _docker("image", "inspect", ref)
    if result.returncode != 0:
        raise DeployError(f"no local image {ref} (build it, or let the inventory build it)")
    data = json.loads(result.stdout)[0]
    labels = (data.get("Config") or {}).get("Labels") or {}
    image_id = data["Id"]
    return LocalImage(
        ref=ref,
        id=image_id,
        version=labels.get(VERSION_LABEL) or image_id.removeprefix("sha256:")[:12],
        size=int(data.get("Size") or 0),
    )


def save(image: LocalImage, workdir: Path) -> SavedImage:
    """`docker save` into workdir, then index the layers from its manifest and config."""
    fd, name = tempfile.mkstemp(prefix="image-", suffix=".tar", dir=workdir)
    path = Path(name)
    with open(fd, "wb"):
        pass
    result = _docker("save", "-o", str(path), image.id)
    if result.returncode != 0:
        raise DeployError(f"docker save {image} failed: {result.stderr.strip()[-200:]}")
    saved = SavedImage(image, path)
    try:
        saved.layers = index_layers(path)
    except (KeyError, ValueError, tarfile.TarError) as exc:
        log.warning("cannot index the layers of %s (%s): every host gets all of them", image, exc)
    return saved


def index_layers(path: Path) -> list[tuple[str, str]]:
    with tarfile.open(path) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))[0]
        config = json.load(tar.extractfile(manifest["Config"]))
    diff_ids = config["rootfs"]["diff_ids"]
    members = manifest["Layers"]
    if len(members) != len(diff_ids):
        raise ValueError("manifest and config disagree on the layers")
    return list(zip(members, chain_ids(diff_ids), strict=True))
