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
