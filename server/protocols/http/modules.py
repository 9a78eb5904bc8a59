"""Handler modules: `DIR/name.py` serves `/name` and everything below it, loaded at run time.

A module defines one of:

    def handle(request):          # request: server.protocols.http.request.Request
        return Response(...)      # or bytes/str, a dict/list (JSON), or (status, headers, body)

    app = <a WSGI callable>       # mounted with SCRIPT_NAME=/name, PATH_INFO=the rest

A handler may raise `server.protocols.http.errors.HTTPError` subclasses (NotFound, Forbidden,
BadRequest, ...) to answer with their status. Anything else it raises is a 500 with the
traceback in the server log, never in the answer.

Modules are compiled from source (no bytecode cache, so an edit is never hidden by a stale
.pyc) and reloaded when the file's mtime, size or inode changes -- checked on each request to
that module -- and all of them on SIGHUP. A module that fails to load (syntax error, import
error) answers 500 on its own path only, until it is fixed on disk.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import types
from collections.abc import Callable
from typing import Any

from ...errors import ConfigError
from .errors import InternalError
from .request import Request
from .response import EarlySink, Response, coerce

log = logging.getLogger(__name__)

#: What a module serves with: its handle() as a Response, or its WSGI app (which may send
#: through the connection's early sink).
EntryPoint = Callable[[Request, EarlySink], Response]

PACKAGE = "server_handlers"  # loaded modules are named server_handlers.<name>


class _Loaded:
    __slots__ = ("error", "respond", "stamp")

    def __init__(self, stamp: tuple, respond: EntryPoint | None, error: str):
        self.stamp = stamp
        self.respond = respond
        self.error = error


class HandlerModules:
    def __init__(self, directory: str, wsgi_factory: Callable[[Callable], Any]):
        self.directory = os.path.realpath(directory)
        if not os.path.isdir(self.directory):
            raise ConfigError(f"--handlers {directory!r} is not a folder")
        self.wsgi_factory = wsgi_factory
        self._loaded: dict[str, _Loaded] = {}
        self._lock = threading.Lock()

    def respond(self, request: Request, early: EarlySink) -> Response | None:
        """The module's answer when the first path segment names a module, else None."""
        handler = self.find(request)
        return handler(request, early) if handler is not None else None

    def find(self, request: Request) -> EntryPoint | None:
        """The module's entry point when the first path segment names a module, else None."""
        name = request.raw_path[1:].partition("/")[0]
        if not name.isidentifier() or name.startswith("_"):
            return None
        path = os.path.join(self.directory, name + ".py")
        try:
            info = os.stat(path)
        except OSError:
            return None
        loaded = self._get(name, path, _stamp(info))
        request.script_name = "/" + name
        if loaded.respond is None:
            raise InternalError(f"handler module {name} is broken: {loaded.error}")
        return loaded.respond

    def reload_all(self) -> None:
        """Reload every module in the folder now (SIGHUP); failures are logged."""
        with self._lock:
            self._loaded.clear()
        for entry in sorted(os.listdir(self.directory)):
            name, ext = os.path.splitext(entry)
            path = os.path.join(self.directory, entry)
            if ext == ".py" and name.isidentifier() and not name.startswith("_"):
                try:
                    self._get(name, path, _stamp(os.stat(path)))
                except OSError:
                    continue

    def _get(self, name: str, path: str, stamp: tuple) -> _Loaded:
        loaded = self._loaded.get(name)
        if loaded is not None and loaded.stamp == stamp:
            return loaded
        with self._lock:  # one thread loads; the others wait and take its result
            loaded = self._loaded.get(name)
            if loaded is None or loaded.stamp != stamp:
                loaded = self._load(name, path, stamp)
                self._loaded[name] = loaded
        return loaded

    def _load(self, name: str, path: str, stamp: tuple) -> _Loaded:
        try:
            module = load_source(f"{PACKAGE}.{name}", path)
            respond = self._entry_point(module)
        except Exception as exc:
            log.exception("handler module %s failed to load", path)
            return _Loaded(stamp, None, f"{type(exc).__name__} (see the server log)")
        log.info("handler module %s loaded from %s", name, path)
        return _Loaded(stamp, respond, "")

    def _entry_point(self, module: types.ModuleType) -> EntryPoint:
        handle = getattr(module, "handle", None)
        if callable(handle):
            return lambda request, early: coerce(handle(request))
        app = getattr(module, "app", None)
        if callable(app):
            return self.wsgi_factory(app).respond
        raise TypeError(f"{module.__file__} defines neither handle(request) nor a WSGI app")


def load_source(module_name: str, path: str) -> types.ModuleType:
    """Compile and run a Python file as a fresh module (registered in sys.modules)."""
    with open(path, "rb") as f:
        source = f.read()
    code = compile(source, path, "exec", dont_inherit=True)
    module = types.ModuleType(module_name)
    module.__file__ = path
    previous = sys.modules.get(module_name)
    sys.modules[module_name] = module  # dataclasses and pickle look modules up by name
    try:
        exec(code, module.__dict__)
    except BaseException:
        if previous is not None:
            sys.modules[module_name] = previous
        else:
            del sys.modules[module_name]
        raise
    return module


def _stamp(info: os.stat_result) -> tuple:
    return (info.st_mtime_ns, info.st_size, info.st_ino, info.st_ctime_ns)
