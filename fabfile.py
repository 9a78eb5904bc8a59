"""`fab deploy`, `fab status`, ... from the repository root: the tasks live in deploy/."""

from deploy import ns  # noqa: F401
