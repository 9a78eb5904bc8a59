"""FTP commands that touch the disk go through the loop's executor (a pool under hybrid):
their replies, and the commands sent after them, wait for the work to finish."""

from __future__ import annotations

import threading
from types import SimpleNamespace

from recorded import ManualScheduler

from server.fs import Jail
from server.protocols.ftp.authorizer import Authorizer
from server.protocols.ftp.session import FTPSession
from server.protocols.ftp.settings import FTPSettings


class PoolThread:
    """An executor whose work runs on another thread, when the test says so."""

    inline = False

    def __init__(self):
        self.jobs = []

    def submit(self, work, on_done):
        self.jobs.append((work, on_done))

    def finish_one(self):
        """Run the oldest job on a thread of its own, then call back as the loop would."""
        work, on_done = self.jobs.pop(0)
        results: list = []
        thread = threading.Thread(target=lambda: results.append(work()))
        thread.start()
        thread.join()
        on_done(results[0], None)


class Sink:
    """The control connection as the session sees it, recording its replies."""

    def __init__(self):
        self.peer, self.out, self.reading, self.closing = ("192.0.2.1", 1), bytearray(), True, False

    def write(self, data):
        self.out += data

    def pending(self):
        return False

    def pause_reading(self):
        self.reading = False

    def resume_reading(self):
        self.reading = True

    def take(self) -> bytes:
        data, self.out = bytes(self.out), bytearray()
        return data


def test_a_disk_command_runs_off_the_loop_and_the_next_one_waits(tmp_path):
    (tmp_path / "sub").mkdir()
    scheduler = ManualScheduler(PoolThread())
    settings = FTPSettings(Authorizer(anonymous_root=str(tmp_path)))
    session = FTPSession(settings, scheduler, links=None)  # no data connection here
    transport = Sink()
    session.connection_made(transport)
    transport.take()  # the banner
    session.user, session.fs = SimpleNamespace(write=False), Jail(str(tmp_path))
    session.data_received(b"CWD /sub\r\nPWD\r\n")
    assert transport.take() == b"" and len(scheduler.executor.jobs) == 1
    scheduler.executor.finish_one()
    assert transport.take() == b"250 Directory changed to /sub.\r\n"  # PWD waits its turn
    scheduler.run_soon()
    assert transport.take() == (b'257 "/sub" is the current directory.\r\n')
