"""A throwaway certificate for the benchmark's HTTPS case, made with the openssl command line.

Every TLS server of the run (ours, gunicorn, granian, nginx) gets the same self-signed
certificate and key, an ECDSA P-256 pair: what a modern deployment serves, and the same
handshake cost for everyone. wrk does not verify certificates, and the one-request check
before the load skips verification too: the figure is about the server's cost, not trust.
"""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path


def certificate(work: Path) -> tuple[Path, Path]:
    """(certificate, key) in the run's temporary folder, made on first use."""
    cert, key = work / "bench-cert.pem", work / "bench-key.pem"
    if not cert.exists():
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
             "-addext", "subjectAltName=IP:127.0.0.1",
             "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True,
        )  # fmt: skip
        key.chmod(0o644)  # nginx's workers and gunicorn read it as the benchmark's own user
    return cert, key


def unverified() -> ssl.SSLContext:
    """A client context for the correctness check: encrypted, not verified (self-signed)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context
