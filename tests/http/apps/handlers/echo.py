"""Reports what it received: the handle(request) API with a dict (JSON) answer."""

import hashlib


def handle(request):
    body = request.body
    return {
        "method": request.method,
        "subpath": request.subpath,
        "length": len(body),
        "sha256": hashlib.sha256(body).hexdigest(),
        "remote": request.remote_addr,
        "x_test": request.header("X-Test"),
        "query": request.query,
    }
