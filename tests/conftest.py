import pytest

from harness import ServerProcess


@pytest.fixture
def server_factory(tmp_path):
    """Start servers that are always stopped (and logged on failure) after the test."""
    started: list[ServerProcess] = []

    def start(service: str, model: str, **kwargs) -> ServerProcess:
        server = ServerProcess(service, model, cwd=kwargs.pop("cwd", tmp_path), **kwargs)
        started.append(server.start())
        return server

    yield start
    for server in started:
        try:
            server.__exit__(None, None, None)
        finally:
            server.kill()
    for server in started:  # a bug the loop caught is still a bug, even if the test passed
        bugs = [line for line in server.lines if "unhandled error" in line]
        assert not bugs, "\n".join(bugs[:5])
