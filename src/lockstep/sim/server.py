"""Run an ASGI app as a *real* uvicorn HTTP server on 127.0.0.1.

The simulators must be exercised over real sockets (timeouts, connection resets and keep-alive only behave
like
production over TCP), so tests, the demo and benchmarks all go through this module instead of in-process
transports. Two entry points:

* :func:`serve` blocks until interrupted (used by ``lockstep sim centra|deposco``);
* :func:`running` starts the server in a background thread, binds port 0 by default, discovers the port the OS
  picked and yields the base URL; leaving the ``with`` block shuts the server down cleanly (lifespan shutdown
  runs, the thread is joined).

Example::

    with running(build_app(token="t")) as base_url:
        httpx.post(f"{base_url}/graphql", ...)
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn

DEFAULT_HOST = "127.0.0.1"


def _config(app: Any, host: str, port: int, log_level: str) -> uvicorn.Config:
    # h11 + asyncio keep the server dependency-light and behave the same everywhere; lifespan "on" so apps can
    # start background workers (e.g. webhook delivery) and stop them on shutdown.
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        http="h11",
        loop="asyncio",
        lifespan="on",
        access_log=False,
        timeout_graceful_shutdown=2,
    )


def serve(app: Any, host: str = DEFAULT_HOST, port: int = 8000, log_level: str = "info") -> None:
    """Serve ``app`` in the foreground until Ctrl-C / SIGTERM (uvicorn handles the signals)."""
    uvicorn.Server(_config(app, host, port, log_level)).run()


class _ThreadedServer(uvicorn.Server):
    """A uvicorn server that does not install signal handlers (only the main thread may do that)."""

    def install_signal_handlers(self) -> None:  # pragma: no cover - trivial override
        return None

    @contextlib.contextmanager
    def run_in_thread(self, startup_timeout: float) -> Iterator[threading.Thread]:
        thread = threading.Thread(target=self.run, name="sim-server", daemon=True)
        thread.start()
        deadline = time.monotonic() + startup_timeout
        try:
            while not self.started:
                if not thread.is_alive():
                    raise RuntimeError("simulator server failed to start (see log output)")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"simulator server did not start within {startup_timeout}s")
                time.sleep(0.01)
            yield thread
        finally:
            self.should_exit = True
            thread.join(timeout=10)


def _bound_port(server: uvicorn.Server) -> int:
    for srv in server.servers:
        for sock in srv.sockets:
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                return int(sock.getsockname()[1])
    raise RuntimeError("server has no listening socket")


@contextlib.contextmanager
def running(
    app: Any,
    port: int = 0,
    host: str = DEFAULT_HOST,
    log_level: str = "warning",
    startup_timeout: float = 10.0,
) -> Iterator[str]:
    """Run ``app`` in a background thread and yield its base URL (``http://127.0.0.1:<port>``).

    ``port=0`` lets the OS choose a free port, so parallel test runs never collide.
    """
    server = _ThreadedServer(_config(app, host, port, log_level))
    with server.run_in_thread(startup_timeout):
        yield f"http://{host}:{_bound_port(server)}"
