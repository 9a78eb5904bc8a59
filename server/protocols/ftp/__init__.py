"""FTP (RFC 959, 2428, 2640, 3659): a sans-IO control-connection protocol and its parts.

verbs.py       the verb table and the gate (500/501/530/550 before any handler)
session.py     FTPSession: command lines, replies, life of the control connection
access.py      USER PASS ... TYPE     files.py      CWD MKD DELE RNFR SIZE MLST ...
data_verbs.py  PASV PORT RETR STOR LIST ...     transfer.py   one transfer, 150 to 226
channels.py    passive/active data connections (their sockets: net/links.py)
upload.py      atomic uploads (temporary file + rename)
listing.py     LIST / NLST / MLSD formats      addressing.py   PORT/EPRT/PASV/EPSV text
authorizer.py  anonymous and named users, salted hashes   limits.py  cross-process limits
"""

from .authorizer import Authorizer
from .limits import ConnectionTable
from .session import FTPSession
from .settings import FTPSettings

__all__ = ["Authorizer", "ConnectionTable", "FTPSession", "FTPSettings"]
