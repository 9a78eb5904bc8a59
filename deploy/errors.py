"""One error type for everything the deploy refuses or fails at: its message is one line that
names the host (where there is one), what went wrong and what state it was left in. The tasks
turn it into invoke's `Exit`, so the user sees that line and not a traceback."""


class DeployError(Exception):
    """A deploy step failed; str(error) is the one line to show."""


class InventoryError(DeployError):
    """The inventory file is missing, not TOML, or names something it does not define."""
