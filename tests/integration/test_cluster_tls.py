"""The TLS edge: HTTPS (and HTTP/2) on nginx's 8443, FTP's AUTH TLS passed through to the
replicas, the certificate from `./cluster ca`'s CA, delivered as secrets and reused by `up`."""

from __future__ import annotations

import hashlib
import http.client
import io
import os
import ssl
import subprocess
import uuid
from ftplib import FTP_TLS
from pathlib import Path

import pytest
from cluster_clients import FTP_PORT, HOST, HTTPS_PORT

pytestmark = [pytest.mark.docker, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
SERVER_UID = 10001  # the server image's `server` user
CERT, KEY = "/run/secrets/server.pem", "/run/secrets/server.key"


@pytest.fixture(scope="module")
def ca_file(cluster, tmp_path_factory):
    """What a user does: `./cluster ca > ca.pem`."""
    printed = _run(["./cluster", "ca"], cluster).stdout
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    path.write_text(printed)
    return path


def _run(command: list[str], cluster, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {**os.environ, **cluster.env, "COMPOSE_PROJECT_NAME": cluster.project}
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=True
    )


def _trusting(ca_file) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca_file))


def _served_certificate(context: ssl.SSLContext, host: str = HOST) -> bytes:
    """The certificate nginx presents, once the handshake verified it with `context`."""
    conn = http.client.HTTPSConnection(host, HTTPS_PORT, context=context, timeout=10)
    try:
        conn.connect()
        return conn.sock.getpeercert(binary_form=True)
    finally:
        conn.close()


def test_cluster_ca_prints_the_ca_that_verifies_the_served_chain(cluster, ca_file):
    assert ca_file.read_text() == (cluster.tls_dir / "ca.pem").read_text()
    assert ca_file.read_text().startswith("-----BEGIN CERTIFICATE-----")
    for host in (HOST, "localhost"):  # both names are in the certificate
        served = _served_certificate(_trusting(ca_file), host)
        assert served == ssl.PEM_cert_to_DER_cert((cluster.tls_dir / "server.pem").read_text())
    # the system's trust store alone does not verify it: the CA is the cluster's own
    with pytest.raises(ssl.SSLCertVerificationError):
        _served_certificate(ssl.create_default_context())


def test_https_get_with_curl_cacert(cluster, ca_file):
    url = f"https://{HOST}:{HTTPS_PORT}/index.html"
    out = subprocess.run(
        ["curl", "-sS", "--cacert", str(ca_file), "-D", "-", "-o", os.devnull,
         "-w", "%{http_code} %{http_version}\n", url],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout  # fmt: skip
    assert out.splitlines()[-1].split()[0] == "200"
    assert "x-served-by: http-" in out.lower()  # a replica answered, through nginx
    refused = subprocess.run(["curl", "-sS", url], capture_output=True, text=True, timeout=30)
    assert refused.returncode == 60, refused.stderr  # curl: peer certificate not trusted


def test_http2_at_the_edge(cluster, ca_file):
    features = subprocess.run(["curl", "--version"], capture_output=True, text=True).stdout
    if "HTTP2" not in features:
        pytest.skip("this curl has no HTTP/2 (no nghttp2)")
    url = f"https://{HOST}:{HTTPS_PORT}/-/health"
    versions = subprocess.run(
        ["curl", "-sS", "--http2", "--cacert", str(ca_file), "-o", os.devnull,
         "-w", "%{http_code} %{http_version} %{num_connects}\n", url, "-o", os.devnull, url],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout.split()  # fmt: skip
    # two requests over HTTP/2, on one connection (the second made no new one)
    assert versions == ["200", "2", "1", "200", "2", "0"]


def test_https_keep_alive_with_http_client(cluster, ca_file):
    conn = http.client.HTTPSConnection(HOST, HTTPS_PORT, context=_trusting(ca_file), timeout=10)
    served_by, sockets = set(), set()
    try:
        for _ in range(30):
            conn.request("GET", "/index.html")
            response = conn.getresponse()
            body = response.read()
            assert response.status == 200 and body
            served_by.add(response.getheader("X-Served-By"))
            sockets.add(id(conn.sock))
        assert conn.sock.version() in ("TLSv1.2", "TLSv1.3")
    finally:
        conn.close()
    assert len(sockets) == 1  # every request on the one TLS connection
    assert served_by <= {"http-fork", "http-prefork", "http-thread", "http-threadpool"}


def test_certificate_reaches_containers_as_secrets_never_images(cluster):
    cert = (cluster.tls_dir / "server.pem").read_text()
    stat = "import os,sys; s=os.stat(sys.argv[1]); print(oct(s.st_mode & 0o777), s.st_uid)"
    for service in ("ftp-fork", "ftp-thread"):
        key = cluster.compose("exec", "-T", service, "python3", "-c", stat, KEY)
        assert key.split() == ["0o600", str(SERVER_UID)], service  # the server user's alone
        assert cluster.compose("exec", "-T", service, "cat", CERT) == cert
    key = cluster.compose("exec", "-T", "nginx", "stat", "-c", "%a %u", KEY)
    assert key.split() == ["600", str(SERVER_UID)]  # nginx's master, root, reads it
    assert cluster.compose("exec", "-T", "nginx", "cat", CERT) == cert
    # HTTP replicas serve clear text behind nginx: no key there
    absent = cluster.compose("exec", "-T", "http-fork", "ls", "/run/secrets", check=False)
    assert "server.key" not in absent
    for service in ("nginx", "ftp-fork"):  # the images themselves hold no secret
        image = cluster.container(service).image.id
        listing = subprocess.run(
            ["docker", "run", "--rm", "--entrypoint", "ls", image, "/run/secrets"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert listing.returncode != 0 and "No such file" in listing.stderr, service


def test_ftp_auth_tls_through_nginx(cluster, ca_file):
    help_text = cluster.compose(
        "exec", "-T", "ftp-fork", "python3", "-m", "server", "ftp", "--help"
    )
    if "--certfile" not in help_text:
        pytest.skip("FTPS is missing: this server's `ftp --help` has no --certfile (branch ftps)")
    ftp = FTP_TLS(context=_trusting(ca_file), timeout=20)
    name, data = f"tls-{uuid.uuid4().hex[:8]}.bin", os.urandom(256 * 1024)
    try:
        ftp.connect(HOST, FTP_PORT)
        ftp.auth()  # AUTH TLS: nginx passes the bytes through, the replica answers the handshake
        ftp.login("library", "library")
        ftp.prot_p()  # data connections in TLS too
        ftp.storbinary(f"STOR {name}", io.BytesIO(data))
        assert name in ftp.nlst()
        back = io.BytesIO()
        ftp.retrbinary(f"RETR {name}", back.write)
        assert hashlib.sha256(back.getvalue()).digest() == hashlib.sha256(data).digest()
        assert ftp.sock.version() in ("TLSv1.2", "TLSv1.3")
        ftp.delete(name)
    finally:
        ftp.close()


def test_a_second_up_reuses_the_certificate(cluster, ca_file):
    """`./cluster up` again, on the running stack (no cold start): same CA, same certificate."""
    files = {name: (cluster.tls_dir / name).read_bytes() for name in ("ca.pem", "server.pem")}
    served = _served_certificate(_trusting(ca_file))
    out = _run(["./cluster", "up"], cluster, timeout=400)
    assert "creating a local certificate authority" not in out.stderr
    assert "issuing the server certificate" not in out.stderr
    assert f"healthy: https://{HOST}:{HTTPS_PORT}/-/health" in out.stderr
    assert {name: (cluster.tls_dir / name).read_bytes() for name in files} == files
    fingerprint = hashlib.sha256(_served_certificate(_trusting(ca_file))).hexdigest()
    assert fingerprint == hashlib.sha256(served).hexdigest()
