"""SSH connections with verified host keys.

Fabric's `Connection` accepts any host key it has never seen (paramiko's AutoAddPolicy) and
reads no known_hosts file. Here every connection loads the inventory's known_hosts and refuses
a key it does not list -- unless the user opted in (`--accept-new-host-keys`, OpenSSH's
`StrictHostKeyChecking=accept-new`), and then the new key is appended to that file. A key that
differs from the listed one is always refused.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import socket
import threading
from pathlib import Path

import paramiko
from fabric import Config, Connection

from .errors import DeployError
from .inventory import Host

log = logging.getLogger(__name__)
_append_lock = threading.Lock()


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's form: SHA256:base64 without padding."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


class UnknownHostKey(paramiko.SSHException):
    def __init__(self, endpoint: str, key: paramiko.PKey):
        super().__init__(endpoint)
        self.endpoint, self.key = endpoint, key


class RefuseUnknown(paramiko.MissingHostKeyPolicy):
    def missing_host_key(self, client, hostname, key):
        raise UnknownHostKey(hostname, key)


class AcceptNew(paramiko.MissingHostKeyPolicy):
    """Trust on first use: add the key to the known_hosts file (never replace one)."""

    def __init__(self, known_hosts: Path):
        self.known_hosts = known_hosts

    def missing_host_key(self, client, hostname, key):
        client.get_host_keys().add(hostname, key.get_name(), key)
        line = f"{hostname} {key.get_name()} {key.get_base64()}\n"
        with _append_lock:
            self.known_hosts.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            with self.known_hosts.open("a") as f:
                f.write(line)
        log.warning("added %s key %s for %s", key.get_name(), fingerprint(key), hostname)


def connect(host: Host, *, accept_new: bool = False, config: Config | None = None) -> Connection:
    """An open Connection to `host`, or DeployError naming the host and what failed."""
    ssh = host.ssh
    known_hosts = Path(ssh.known_hosts).expanduser()
    kwargs: dict = {
        "banner_timeout": ssh.connect_timeout,
        "auth_timeout": ssh.connect_timeout,
        "channel_timeout": ssh.connect_timeout,
    }
    if ssh.key:
        kwargs.update(key_filename=[str(Path(ssh.key).expanduser())])
        kwargs.update(look_for_keys=False, allow_agent=False)
    conn = Connection(
        host.ssh_host,
        user=ssh.user,
        port=ssh.port,
        config=config or Config(),
        connect_timeout=max(1, round(ssh.connect_timeout)),
        connect_kwargs=kwargs,
    )
    if known_hosts.exists():
        conn.client.load_host_keys(str(known_hosts))
    policy = AcceptNew(known_hosts) if accept_new else RefuseUnknown()
    conn.client.set_missing_host_key_policy(policy)
    try:
        conn.open()
    except Exception as exc:
        conn.close()
        raise DeployError(f"{host} ({host.endpoint}): {describe(exc, host, known_hosts)}") from exc
    conn.transport.set_keepalive(30)  # the connection idles while images build
    return conn


def _no_handshake(message: str) -> bool:
    # paramiko's words for "the server never finished the handshake": the banner did not come,
    # or start_client gave up waiting and authentication found no session
    words = ("banner", "no existing session", "negotiation failed")
    return any(w in message.lower() for w in words)


def describe(exc: Exception, host: Host, known_hosts: Path) -> str:
    """One line for why an SSH connection failed."""
    timeout = f"{host.ssh.connect_timeout:g} s"
    if isinstance(exc, UnknownHostKey):
        return (
            f"unknown host key {exc.key.get_name()} {fingerprint(exc.key)}, not in {known_hosts}; "
            "refusing to connect. Check the fingerprint on the host (ssh-keygen -lf "
            "/etc/ssh/ssh_host_*_key.pub) and add it, or run with --accept-new-host-keys"
        )
    if isinstance(exc, paramiko.BadHostKeyException):
        return (
            f"host key CHANGED: got {exc.key.get_name()} {fingerprint(exc.key)}, {known_hosts} "
            f"lists {fingerprint(exc.expected_key)}; refusing to connect (a new machine? then "
            "remove the old line from known_hosts; otherwise someone may be in the middle)"
        )
    if isinstance(exc, paramiko.AuthenticationException):
        key = host.ssh.key or "the agent's and default keys"
        return f"authentication as {host.ssh.user} with {key} failed"
    if isinstance(exc, socket.gaierror):
        return f"name {host.ssh_host!r} does not resolve ({exc.strerror})"
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
        return "connection refused: host down, or no sshd on that port"
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"no answer within {timeout}: host down or unreachable"
    if isinstance(exc, paramiko.SSHException) and _no_handshake(str(exc)):
        return f"no SSH handshake within {timeout}: host down or hung"
    if isinstance(exc, FileNotFoundError | PermissionError):
        return f"cannot read the key: {exc}"
    if isinstance(exc, OSError):
        return f"cannot connect: {exc.strerror or exc}"
    return f"SSH failed: {type(exc).__name__}: {exc}"
