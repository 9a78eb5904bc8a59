"""pyftpdlib as a peer: `python pyftpd.py PORT ROOT LO-HI [CERT KEY]`, anonymous read-only.

Its default server (one process, one asynchronous loop over epoll), as its documentation
recommends for speed; passive data ports LO-HI; logging at warning so it does not write a line
per command. With CERT and KEY, its TLS handler (pyOpenSSL) with TLS required on the control
and the data connections, as vsftpd's force_anon_*_ssl.
"""

from __future__ import annotations

import logging
import sys

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer


def main(port: int, root: str, ports: str, cert: str = "", key: str = "") -> None:
    logging.basicConfig(level=logging.WARNING)
    authorizer = DummyAuthorizer()
    authorizer.add_anonymous(root)
    handler = FTPHandler
    if cert:
        from pyftpdlib.handlers import TLS_FTPHandler  # needs pyOpenSSL: imported for FTPS only

        handler = TLS_FTPHandler
        handler.certfile, handler.keyfile = cert, key
        handler.tls_control_required = handler.tls_data_required = True
    handler.authorizer = authorizer
    low, high = (int(p) for p in ports.split("-"))
    handler.passive_ports = range(low, high + 1)
    server = FTPServer(("127.0.0.1", port), handler)
    server.max_cons = 1024
    server.serve_forever()


if __name__ == "__main__":
    main(int(sys.argv[1]), *sys.argv[2:6])
