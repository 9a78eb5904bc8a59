"""Deploy and rollback: images to every host first, then one host at a time.

Per host and service: start the new version on the free slot beside the old one, wait until
Docker says it is healthy, switch every balancer to it, wait for the balancers' old workers,
stop the old version (SIGTERM: it drains), and move the host's `current`/`previous` tags. A new
version that never becomes healthy is removed, the host keeps its old version, and the rollout
stops there with a DeployError saying which hosts run what.
"""

from __future__ import annotations

import logging
import shlex
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import balancer as lb
from . import ftp_tls, images, monitoring, transfer
from .errors import DeployError
from .fleet import Fleet, tag
from .health import wait_healthy
from .images import LocalImage, SavedImage
from .inventory import Host, Service
from .remote import (
    LABEL_METRICS,
    LABEL_PASSIVE,
    LABEL_PORT,
    LABEL_PROJECT,
    LABEL_SERVICE,
    LABEL_VERSION,
    VERSION_LABEL,
    Container,
    Remote,
)
from .wiring import wired_env

log = logging.getLogger(__name__)

Say = Callable[[str], None]


class ImageCourier:
    """Puts images on the hosts that lack them: each image saved once, then sent to several
    hosts at a time (each host receives its images one after the other)."""

    def __init__(self, workdir: Path, say: Say, parallel: int):
        self.workdir, self.say, self.parallel = workdir, say, max(1, parallel)
        self.saved: dict[str, SavedImage] = {}

    def deliver(self, jobs: list[tuple[Remote, LocalImage]]) -> None:
        missing: dict[Remote, list[LocalImage]] = {}
        for remote, image in jobs:
            if remote.image_id(image.id):
                self.say(f"{remote}: has {image}")
            elif image not in missing.setdefault(remote, []):
                missing[remote].append(image)
        for image in {i.id: i for images_ in missing.values() for i in images_}.values():
            self.say(f"saving {image}")
            self.saved[image.id] = images.save(image, self.workdir)
        with ThreadPoolExecutor(max_workers=self.parallel) as pool:
            futures = [pool.submit(self._send, r, imgs) for r, imgs in missing.items() if imgs]
        errors = [f.exception() for f in futures if f.exception() is not None]
        if errors:
            raise errors[0]

    def _send(self, remote: Remote, wanted: list[LocalImage]) -> None:
        for image in wanted:
            sent = transfer.send(remote, self.saved[image.id])
            remote.tag(image.id, image.ref)
            self.say(
                f"{remote}: loaded {image}: {sent.layers} layer(s) sent, {sent.skipped} "
                f"already there, {sent.bytes / 1e6:.1f} MB in {sent.seconds:.1f} s"
            )


def deploy(fleet: Fleet, targets: dict[str, LocalImage], balancer_image: LocalImage,
           hosts: list[Host], say: Say,
           monitoring_image: LocalImage | None = None) -> None:  # fmt: skip
    """Roll `targets` (service -> image) onto `hosts`, one host at a time; Prometheus and the
    nginx exporter on the balancer hosts too with `monitoring_image` ([monitoring])."""
    inv = fleet.inv
    app_hosts = [h for h in hosts if inv.services_on(h)]
    jobs = [
        (fleet.state(host).remote, targets[service.name])
        for host in app_hosts
        for service in inv.services_on(host)
    ]
    jobs += [(bal.remote, balancer_image) for bal in fleet.balancers()]
    monitors = monitoring.monitors(fleet) if monitoring_image else []
    jobs += [(mon.remote, monitoring_image) for mon in monitors]
    with tempfile.TemporaryDirectory(prefix="deploy-") as tmp:
        ImageCourier(Path(tmp), say, inv.settings.parallel_transfers).deliver(jobs)
    ensure_balancers(fleet, balancer_image, say)
    for mon in monitors:
        for started in mon.ensure(monitoring_image):
            say(f"{mon}: started {started}")
    _roll_all(fleet, [(h, s, targets[s.name]) for h in app_hosts for s in inv.services_on(h)], say)


def _roll_all(fleet: Fleet, plan: list[tuple[Host, Service, LocalImage]], say: Say) -> None:
    """One host at a time; a failure names the hosts this run had already moved. A last
    switch stops forwarding the passive ports of the FTP version stopped last."""
    moved: list[str] = []
    for host, service, image in plan:
        try:
            if roll(fleet, host, service, image, say):
                moved.append(f"{host} ({service.name} {image.version})")
        except DeployError as exc:
            if not moved:
                raise
            raise DeployError(f"{exc}; already moved by this run: {', '.join(moved)}") from exc
    if moved:
        switch(fleet, say)


def rollback(fleet: Fleet, hosts: list[Host], say: Say) -> None:
    """Every host back to its previous version (which then becomes the previous one)."""
    inv = fleet.inv
    plan = []
    for host in hosts:
        remote = fleet.state(host).remote
        for service in inv.services_on(host):
            previous = remote_image(remote, tag(inv, service, "previous"))
            if previous is None:
                raise DeployError(
                    f"{host}: no previous version of {service.name} to roll back to "
                    "-- nothing was changed"
                )
            plan.append((host, service, previous))
    _roll_all(fleet, plan, say)


def remote_image(remote: Remote, ref: str) -> LocalImage | None:
    data = remote.inspect_image(ref)
    if data is None:
        return None
    labels = (data.get("Config") or {}).get("Labels") or {}
    image_id = data["Id"]
    version = labels.get(VERSION_LABEL) or image_id.removeprefix("sha256:")[:12]
    return LocalImage(ref=ref, id=image_id, version=version, size=int(data.get("Size") or 0))


def ensure_balancers(fleet: Fleet, image: LocalImage, say: Say) -> None:
    config = lb.render(fleet.inv, fleet.upstreams(), fleet.forwards())
    for bal in fleet.balancers():
        done = bal.ensure(image, config)
        if done:
            say(f"{bal}: balancer {image.version} {done}: {_rotation(fleet)}")


def switch(fleet: Fleet, say: Say) -> None:
    config = lb.render(fleet.inv, fleet.upstreams(), fleet.forwards())
    for bal in fleet.balancers():
        if bal.apply(config):
            say(f"{bal}: balancer reloaded: {_rotation(fleet)}")
    for mon in monitoring.monitors(fleet):  # Prometheus follows: it scrapes the live versions
        mon.publish()


def _rotation(fleet: Fleet) -> str:
    parts = []
    for service, members in fleet.upstreams().items():
        hosts = ", ".join(f"{addr}:{port}" for addr, port in members) or "no host yet"
        parts.append(f"{service} -> {hosts}")
    return "; ".join(parts)


def roll(fleet: Fleet, host: Host, service: Service, image: LocalImage, say: Say) -> bool:
    """Move one host's service to `image`; False when it already runs it."""
    inv, state = fleet.inv, fleet.state(host)
    remote, old = state.remote, state.live.get(service.name)
    if old and old.image_id == image.id and old.serving and _wired_alike(fleet, host, service, old):
        say(f"{host}: {service.name} {image.version} is already live on port {old.port}")
        return False
    port = service.ports[1] if old and old.port == service.ports[0] else service.ports[0]
    name = f"{inv.settings.project}-{service.name}-{port}"
    say(f"{host}: starting {service.name} {image.version} on port {port}")
    for stale in state.stale.get(service.name, []):  # stopped leftovers (a crash, an attempt)
        remote.remove(stale.name)
    remote.remove(name)
    stays = f"{old.version or old.image_id[7:19]}" if old else "no version"
    try:
        _start(remote, host, service, image, name, port, inv)
    except DeployError as exc:
        remote.remove(name)
        raise DeployError(f"{exc}; {host} stays on {stays}; deploy stopped") from exc
    _await_healthy(remote, host, service, image, name, stays, inv.settings, say)
    data = remote.inspect(name)
    if data is None:
        raise DeployError(f"{host}: {name} vanished after its health check; deploy stopped")
    state.live[service.name] = Container.from_inspect(data)
    if old:  # still running, and forwarded to (FTP's passive ports) until it is stopped
        state.stale.setdefault(service.name, []).append(old)
    switch(fleet, say)
    if old:
        _stop_old(remote, host, service, old, inv.settings.stop_timeout, say)
    state.read(inv)
    _retag(remote, service, image, old.image_id if old else None, inv)
    return True


def _await_healthy(remote: Remote, host: Host, service: Service, image: LocalImage, name: str,
                   stays: str, settings, say: Say) -> None:  # fmt: skip
    """Wait for the new container's health check; on failure remove it and stop the deploy."""
    verdict = wait_healthy(remote, name, settings.health_timeout, settings.health_interval)
    if not verdict.healthy:
        for line in remote.logs(name, 10).splitlines():
            log.warning("%s: %s: %s", host, name, line)
        remote.remove(name)
        raise DeployError(
            f"{host}: {service.name} {image.version} never became healthy ({verdict.reason}); "
            f"{host} stays on {stays}, traffic unchanged; deploy stopped"
        )
    say(f"{host}: {service.name} {image.version} healthy after {verdict.seconds:.1f} s")


def _stop_old(remote: Remote, host: Host, service: Service, old: Container, stop_timeout: int,
              say: Say) -> None:  # fmt: skip
    """Stop and remove the container the balancer no longer sends traffic to."""
    stop = shlex.join(["docker", "stop", "-t", str(stop_timeout), old.name])
    remote.run(f"{stop} >/dev/null && docker rm {shlex.quote(old.name)} >/dev/null",
               timeout=stop_timeout + 60)  # fmt: skip
    say(f"{host}: stopped {service.name} {old.version} (port {old.port})")


def _wired_alike(fleet: Fleet, host: Host, service: Service, old: Container) -> bool:
    """Whether the live container has the metrics listener and the certificate the inventory
    asks for now ([monitoring] turned on or off, or a renewed certificate, restarts it, even
    on the same image)."""
    env = wired_env(fleet.inv, service, host, old.port) if old.port else {}
    pair = ftp_tls.fingerprint(fleet.inv) if "SERVER_CERTFILE" in env else ""
    metrics = old.labels.get(LABEL_METRICS, "") == env.get("SERVER_METRICS_LISTEN", "")
    return metrics and old.labels.get(ftp_tls.LABEL, "") == pair


def _start(remote: Remote, host: Host, service: Service, image: LocalImage, name: str,
           port: int, inv) -> None:  # fmt: skip
    env = service.environment(
        host=host.name, address=host.address, port=port, service=service.name,
        version=image.version, project=inv.settings.project,
    )  # fmt: skip
    args = [
        "run", "-d", "--name", name, "--network", "host", "--restart", "unless-stopped",
        "--label", f"{LABEL_PROJECT}={inv.settings.project}",
        "--label", f"{LABEL_SERVICE}={service.name}",
        "--label", f"{LABEL_PORT}={port}",
        "--label", f"{LABEL_VERSION}={image.version}",
    ]  # fmt: skip
    env.update(wired_env(inv, service, host, port))
    if service.kind == "ftp":  # the balancer forwards the ports on this label here
        args += ["--label", f"{LABEL_PASSIVE}={env['SERVER_PASSIVE_PORTS']}"]
    if "SERVER_METRICS_LISTEN" in env:
        args += ["--label", f"{LABEL_METRICS}={env['SERVER_METRICS_LISTEN']}"]
    if "SERVER_CERTFILE" in env:  # FTPS: the pair, in its volume, owned by the image's user
        ftp_tls.install(remote, inv, image.id)
        args += ftp_tls.run_args(inv)
    if service.health_cmd:
        args += ["--health-cmd", service.health_cmd]
    if service.env_file:
        args += ["--env-file", service.env_file]
    for key, value in env.items():
        args += ["--env", f"{key}={value}"]
    remote.docker(*args, image.id, *service.command)


def _retag(remote: Remote, service: Service, image: LocalImage, old_id: str | None, inv) -> None:
    """current -> image; previous -> what ran before; an image pushed out of both goes."""
    evicted = remote.image_id(tag(inv, service, "previous"))
    remote.tag(image.id, tag(inv, service, "current"))
    previous = evicted
    if old_id and old_id != image.id:
        remote.tag(old_id, tag(inv, service, "previous"))
        previous = old_id
    if evicted and evicted not in (image.id, previous):
        users = remote.run(
            shlex.join(["docker", "ps", "-aq", "--filter", f"ancestor={evicted}"]), check=False
        ).stdout.strip()
        if not users:
            remote.docker("image", "rm", "-f", evicted, check=False)
            log.info("%s: removed image %s (older than the previous version)", remote, evicted)
