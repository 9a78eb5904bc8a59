"""The standard library's own server as a peer: `http.server.ThreadingHTTPServer`.

`python stdlib_http.py PORT ROOT`: `/` answers the hello-world, any other path is a file under
ROOT (SimpleHTTPRequestHandler). HTTP/1.1, so wrk's connections are kept alive as with the others.
"""

from __future__ import annotations

import functools
import sys
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

BODY = b"Hello, World!\n"


class Handler(SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path != "/":
            return super().do_GET()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, format, *args):
        pass  # one line per request would measure the terminal, not the server


def main(port: int, root: str) -> None:
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.request_queue_size = 1024
    handler = functools.partial(Handler, directory=root)
    with ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
        server.serve_forever()


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
