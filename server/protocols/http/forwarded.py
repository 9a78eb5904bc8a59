"""X-Forwarded-For / X-Forwarded-Proto, believed only from the proxies we are told to trust.

Who is trusted is `--forwarded-allow-ips` (server/net/trusted.py). The client is the
right-most address in X-Forwarded-For that is not itself a trusted proxy (each proxy appends
the address it saw). With `--proxy-protocol` the peer judged here is the client the PROXY
header named, not the proxy that sent it: a client is not a proxy just because it came through
one, so its own X-Forwarded-For counts only if its address is in the list too.
"""

from __future__ import annotations

from ...net.trusted import TrustedPeers
from .request import Request


def apply_forwarded(trusted: TrustedPeers, request: Request) -> None:
    """Set request.remote_addr (and scheme) from the forwarding headers if we trust the peer."""
    headers = request.headers
    if "x-forwarded-for" not in headers and "x-forwarded-proto" not in headers:
        return
    if not trusted.trusts_peer(request.peer):
        return
    forwarded = headers.get("x-forwarded-for")
    if forwarded:
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        client = next((hop for hop in reversed(hops) if not trusted.trusts(hop)), None)
        request.remote_addr = client or (hops[0] if hops else request.remote_addr)
    proto = headers.get("x-forwarded-proto", "").lower()
    if proto in ("http", "https"):
        request.scheme = proto
