"""The balancer: nginx (the compose cluster's image) on each `lb` host, on the host's network,
its configuration rendered from the inventory and the hosts' live ports.

With `balancer.tls`, HTTP services with a `tls_listen` port are served over HTTPS (and
HTTP/2) too, the certificate beside the configuration (deploy/tls.py).

A switch is: upload the new file beside the old one, `nginx -t` it, move it into place, `nginx
-s reload` (graceful: new workers take new requests while the old ones finish theirs), then
wait until every old worker has exited. Only then may the old version of a host be stopped.
"""

from __future__ import annotations

import logging
import re
import shlex

from . import stream, tls
from .errors import DeployError
from .health import wait_healthy
from .images import LocalImage
from .inventory import Inventory
from .remote import LABEL_PROJECT, Remote
from .stream import Forwards, Upstreams
from .templates import indent, template

log = logging.getLogger(__name__)

MOUNT = "/etc/nginx/cluster"  # the nginx image links /etc/nginx/nginx.conf to MOUNT/nginx.conf
_SERVER_LINE = re.compile(r"^\s*server\s+(\S+):(\d+)\s", re.MULTILINE)


def render(inv: Inventory, upstreams: Upstreams, forwards: Forwards | None = None) -> str:
    """nginx.conf: HTTP services in `http {}`, the others in `stream {}` (deploy/stream.py)."""
    blocks = [
        template("nginx-service.conf.in").substitute(
            name=service.name,
            listen=service.listen,
            tls_listen=tls.listen_line(service),
            servers=indent(stream.server_lines(upstreams.get(service.name) or [])),
        )
        for service in inv.services.values()
        if service.kind == "http"
    ]
    return template("nginx.conf.in").substitute(
        workers=inv.balancer.workers,
        shutdown_timeout=f"{max(1, int(inv.settings.drain_timeout) - 5)}s",
        status_port=inv.balancer.status_port,
        tls=tls.nginx_block(inv.balancer.tls, MOUNT),
        services="".join(blocks),
        stream=stream.render(inv, upstreams, forwards or {}),
    )


def members(config: str) -> set[tuple[str, int]]:
    """The `server ADDRESS:PORT` lines of a rendered configuration (upstream members)."""
    return {(addr.strip("[]"), int(port)) for addr, port in _SERVER_LINE.findall(config)}


_WORKERS = (
    'for d in /proc/[0-9]*; do c=$(tr "\\0" " " <"$d/cmdline" 2>/dev/null) || continue; '
    'case $c in "nginx: worker process"*) echo "${d#/proc/}";; esac; done'
)


class BalancerHost:
    """nginx on one lb host: its container and its configuration directory."""

    def __init__(self, remote: Remote, inv: Inventory):
        self.remote, self.inv = remote, inv
        self.container = f"{inv.settings.project}-balancer"
        self._dir: str | None = None

    def __str__(self) -> str:
        return str(self.remote)

    @property
    def dir(self) -> str:
        if self._dir is None:
            self._dir = f"{self.remote.home()}/{self.inv.settings.project}-deploy/balancer"
        return self._dir

    def config(self) -> str | None:
        result = self.remote.run(f"cat {shlex.quote(self.dir)}/nginx.conf", check=False)
        return result.stdout if result.ok else None

    def running_image(self) -> str | None:
        data = self.remote.inspect(self.container)
        if data and data["State"].get("Running"):
            return data["Image"]
        return None

    def ensure(self, image: LocalImage, config: str) -> str | None:
        """Run nginx from `image` with `config`: "started", "reloaded", or None (as it was)."""
        if self.running_image() == image.id:
            return "reloaded" if self.apply(config) else None
        self.remote.run(f"mkdir -p {shlex.quote(self.dir)}")
        tls.upload(self.remote, self.inv.balancer.tls, self.dir)
        self._upload(config, "nginx.conf")
        # host networking: the old container must go before the new one can listen
        self.remote.docker("stop", "-t", "20", self.container, check=False)
        self.remote.remove(self.container)
        self.remote.docker(
            "run", "-d", "--name", self.container, "--network", "host",
            "--restart", "unless-stopped",
            "--label", f"{LABEL_PROJECT}={self.inv.settings.project}",
            "--label", "deploy.role=balancer",
            "--env", f"NGINX_STATUS_PORT={self.inv.balancer.status_port}",
            "--volume", f"{self.dir}:{MOUNT}:ro",
            image.id,
        )  # fmt: skip
        settings = self.inv.settings
        verdict = wait_healthy(
            self.remote, self.container, settings.health_timeout, settings.health_interval
        )
        if not verdict.healthy:
            tail = self.remote.logs(self.container, 5).strip().splitlines()
            raise DeployError(
                f"{self}: the balancer did not become healthy ({verdict.reason})"
                + (f"; its log ends: {tail[-1]}" if tail else "")
            )
        return "started"

    def apply(self, config: str) -> bool:
        """Switch to `config` (graceful reload) and wait for the old workers; False if same.

        One SSH command tests the new file, notes the workers, moves the file into place and
        reloads; a second waits (on the host) until those workers have exited."""
        if self.config() == config:
            return False
        # a new certificate changes the configuration (its fingerprint): upload it first
        tls.upload(self.remote, self.inv.balancer.tls, self.dir)
        self._upload(config, "nginx.conf.next")
        c, d = shlex.quote(self.container), shlex.quote(self.dir)
        switched = self.remote.run(
            f"if ! out=$(docker exec {c} nginx -t -q -c {MOUNT}/nginx.conf.next 2>&1); then "
            f'echo "$out" >&2; rm -f {d}/nginx.conf.next; exit 3; fi; '
            f"old=$(docker exec {c} sh -c {shlex.quote(_WORKERS)}) && "
            f"mv {d}/nginx.conf.next {d}/nginx.conf && "
            f'docker exec {c} nginx -s reload && echo "$old"',
            check=False,
        )
        if not switched.ok:
            reason = (switched.stderr.strip() or "?").splitlines()[-1]
            if switched.exited == 3:
                raise DeployError(f"{self}: nginx refuses the new configuration: {reason}")
            raise DeployError(f"{self}: reloading nginx failed: {reason}")
        self._wait_gone(set(switched.stdout.split()))
        return True

    def _upload(self, text: str, name: str) -> None:
        self.remote.put_text(text, f"{self.dir}/{name}")

    def _wait_gone(self, pids: set[str]) -> None:
        """Old workers exit once their requests are done (worker_shutdown_timeout at most)."""
        if not pids:
            return
        timeout = self.inv.settings.drain_timeout
        alive = f"for p in {' '.join(sorted(pids))}; do [ -e /proc/$p ] && echo $p; done; true"
        waited = self.remote.run(
            f"end=$(($(date +%s) + {int(timeout) + 1})); "
            f"while a=$(docker exec {shlex.quote(self.container)} sh -c {shlex.quote(alive)}); "
            '[ -n "$a" ]; do [ "$(date +%s)" -ge "$end" ] && { echo $a; exit 4; }; '
            "sleep 0.2; done",
            check=False,
            timeout=timeout + 30,
        )
        if not waited.ok:
            raise DeployError(
                f"{self}: nginx's old workers ({waited.stdout.strip() or '?'}) still run "
                f"{timeout:g} s after the reload; the old version was left running"
            )
