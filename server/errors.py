"""One exception hierarchy for the whole package.

Errors that end the program carry the exit status the CLI should use; protocol errors carry
the status or reply code their protocol answers with (the HTTP and FTP packages subclass
`ProtocolError`), so no caller needs an isinstance chain to map errors to codes.
"""


class ServerError(Exception):
    """Base of every error this package raises on purpose."""

    exit_status = 1


class ConfigError(ServerError):
    """A flag, environment variable or file holds something we cannot use."""

    exit_status = 2


class BindError(ConfigError):
    """The listening address cannot be bound (in use, not permitted, not resolvable)."""


class ModelUnavailable(ConfigError):
    """The chosen model cannot run here (missing system call) or with this service."""


class ProtocolError(ServerError):
    """A peer broke its protocol; subclasses set the code their protocol replies with."""

    code = 0
