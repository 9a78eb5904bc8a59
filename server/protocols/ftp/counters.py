"""FTP's metrics, counted at a few call sites: sessions, logins, transfers and their bytes.

Labels are bounded: a transfer's direction is its kind (download: RETR; upload: STOR, APPE;
listing: LIST, NLST, MLSD) and its outcome comes from its final reply (226 ok, 426 aborted,
anything else failed). Connections, including refused ones, are the model's
server_connections_total.
"""

from __future__ import annotations

from ...metrics import METRICS

DIRECTIONS = ("download", "upload", "listing")
OUTCOMES = ("ok", "aborted", "failed")

METRICS.gauge("ftp_sessions_open", "FTP sessions greeted (220) and not yet closed.")
METRICS.counter("ftp_sessions_total", "FTP sessions greeted (220).")
METRICS.counter("ftp_logins_total", "FTP logins, by outcome.", "outcome", ("ok", "failed"))
METRICS.counter(
    "ftp_transfers_total",
    "FTP transfers ended, by direction and outcome.",
    "direction,outcome",
    [f"{direction},{outcome}" for direction in DIRECTIONS for outcome in OUTCOMES],
)
METRICS.counter(
    "ftp_transfer_bytes_total",
    "File bytes of FTP transfers, by direction: uploads what was received, downloads the "
    "file range of each complete transfer.",
    "direction",
    ("download", "upload"),
)

_OPEN = METRICS.place("ftp_sessions_open")
_SESSIONS = METRICS.place("ftp_sessions_total")
_LOGINS = {True: METRICS.place("ftp_logins_total", "ok"),
           False: METRICS.place("ftp_logins_total", "failed")}  # fmt: skip


def session_opened() -> bool:
    """A session was greeted; True, for the session to remember to call `session_closed`."""
    METRICS.add_at(_OPEN, 1, _SESSIONS, 1)
    return True


def session_closed() -> None:
    METRICS.add_at(_OPEN, -1)


def login(ok: bool) -> None:
    METRICS.add_at(_LOGINS[ok], 1)


def transfer_ended(direction: str, code: int, size: int) -> None:
    """A transfer's final reply `code`, and the file bytes it moved."""
    outcome = "ok" if code < 300 else "aborted" if code == 426 else "failed"
    METRICS.add("ftp_transfers_total", 1, f"{direction},{outcome}")
    if size and direction != "listing":
        METRICS.add("ftp_transfer_bytes_total", size, direction)
