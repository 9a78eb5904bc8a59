"""HTTP errors: each class carries the status it is answered with.

The parser raises them for malformed requests, static files and handler modules raise them for
refusals; one place (`response.error_response`) turns any of them into a short text answer.
No caller maps exceptions to statuses with an isinstance chain.
"""

from __future__ import annotations

from ...errors import ProtocolError


class HTTPError(ProtocolError):
    """A request that gets an error answer. `close` ends the connection after it."""

    code = 500
    #: True when the request stream can no longer be trusted (framing errors): close after.
    close = False

    def __init__(self, message: str = "", headers: list[tuple[str, str]] | None = None):
        super().__init__(message)
        self.message = message
        self.headers = headers or []


class MalformedRequest(HTTPError):
    """The bytes on the wire are not a valid request: answer, then close the connection."""

    code = 400
    close = True


class BadRequest(MalformedRequest):
    code = 400


class RequestTimeout(MalformedRequest):
    code = 408


class PayloadTooLarge(MalformedRequest):
    code = 413


class URITooLong(MalformedRequest):
    code = 414


class ExpectationFailed(MalformedRequest):
    code = 417


class HeaderFieldsTooLarge(MalformedRequest):
    code = 431


class NotImplementedHere(MalformedRequest):
    """A transfer coding or method the server does not implement (501)."""

    code = 501


class VersionNotSupported(MalformedRequest):
    code = 505


class Forbidden(HTTPError):
    code = 403


class NotFound(HTTPError):
    code = 404


class MethodNotAllowed(HTTPError):
    code = 405

    def __init__(self, message: str = "", allow: str = "GET, HEAD"):
        super().__init__(message, [("Allow", allow)])


class InternalError(HTTPError):
    code = 500


class ServiceUnavailable(HTTPError):
    code = 503
