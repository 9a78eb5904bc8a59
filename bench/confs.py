"""Configuration files for the C peers, written into the run's temporary folder.

nginx and vsftpd run as the benchmark's own foreground processes on loopback ports, from these
files -- never the system's configuration or services.
"""

from __future__ import annotations

import pwd
from pathlib import Path

NGINX = """\
worker_processes {workers};
daemon off;
master_process on;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
worker_rlimit_nofile 65536;
events {{ worker_connections 16384; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    client_body_temp_path {dir}/nginx-body;
    proxy_temp_path {dir}/nginx-proxy;
    fastcgi_temp_path {dir}/nginx-fastcgi;
    uwsgi_temp_path {dir}/nginx-uwsgi;
    scgi_temp_path {dir}/nginx-scgi;
    server {{
        listen 127.0.0.1:{port}{ssl};{tls}
        location = / {{
            default_type text/plain;
            return 200 "Hello, World!\\n";
        }}
        location / {{ root {root}; }}
    }}
}}
"""

VSFTPD = """\
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port={port}
background=NO
anonymous_enable=YES
no_anon_password=NO
anon_root={root}
ftp_username={ftp_user}
local_enable=NO
write_enable=NO
pasv_enable=YES
pasv_address=127.0.0.1
pasv_min_port={pasv_low}
pasv_max_port={pasv_high}
connect_from_port_20=NO
use_sendfile=YES
max_clients=0
max_per_ip=0
xferlog_enable=NO
dirmessage_enable=NO
seccomp_sandbox=NO
isolate=NO
isolate_network=NO
secure_chroot_dir={empty}
"""

# FTPS, as the benchmark's client speaks it: anonymous over TLS only (control and data), the
# shared certificate, no client certificate asked for. require_ssl_reuse=NO because ftplib
# does not offer the control connection's session on data connections (vsftpd's default YES
# would refuse them with 522): every server then does one full handshake per transfer.
VSFTPD_TLS = """\
ssl_enable=YES
allow_anon_ssl=YES
force_anon_logins_ssl=YES
force_anon_data_ssl=YES
rsa_cert_file={cert}
rsa_private_key_file={key}
ssl_request_cert=NO
require_ssl_reuse=NO
"""

NGINX_TLS = """
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_session_cache shared:bench:1m;"""


def nginx(
    dir: Path, port: int, root: Path, workers: str = "auto", tls: tuple[Path, Path] | None = None
) -> Path:
    """nginx.conf: `/` answers the hello-world, any other path is a file under `root`; with
    `tls` (certificate, key) the port speaks HTTPS."""
    path = dir / f"nginx-{port}.conf"
    ssl = " ssl" if tls else ""
    extra = NGINX_TLS.format(cert=tls[0], key=tls[1]) if tls else ""
    path.write_text(
        NGINX.format(dir=dir, port=port, root=root, workers=workers, ssl=ssl, tls=extra)
    )
    return path


def vsftpd(
    dir: Path, port: int, root: Path, pasv: tuple[int, int], tls: tuple[Path, Path] | None = None
) -> Path:
    """vsftpd.conf: anonymous, read-only at `root`, passive ports `pasv`, in the foreground;
    with `tls` (certificate, key) FTPS only."""
    empty = dir / "vsftpd-empty"
    empty.mkdir(exist_ok=True)
    path = dir / f"vsftpd-{port}.conf"
    path.write_text(
        VSFTPD.format(
            port=port,
            root=root,
            ftp_user=_ftp_user(),
            pasv_low=pasv[0],
            pasv_high=pasv[1],
            empty=empty,
        )
        + (VSFTPD_TLS.format(cert=tls[0], key=tls[1]) if tls else "")
    )
    return path


def _ftp_user() -> str:
    """Debian's vsftpd package creates `ftp`; anonymous sessions run as that user."""
    for name in ("ftp", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    return "nobody"
