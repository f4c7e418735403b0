"""Running the app: `run_server` for `safealign serve`, `BackgroundServer` for tests and
benchmarks (a real uvicorn server on 127.0.0.1 in a thread, on a free port)."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import socket
import threading
import time
from typing import Any

import uvicorn

from safealign.serve.config import ServeConfig

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


CONFIG_ENV = "SAFEALIGN_SERVE_CONFIG"


def run_server(config: ServeConfig, workers: int = 1) -> None:
    """Serve until interrupted. Uvicorn's access log is off: safealign logs key ids, never keys
    or texts; request bodies never reach a log line.

    With several workers, uvicorn needs an import string: each worker process rebuilds the app
    from the config, passed as JSON in the environment."""
    from safealign.serve.app import create_app

    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    options = {"host": config.host, "port": config.port, "access_log": False, "log_level": "info"}
    if workers > 1:
        os.environ[CONFIG_ENV] = json.dumps(dataclasses.asdict(config))
        uvicorn.run(f"{__name__}:app_from_env", factory=True, workers=workers, **options)
    else:
        uvicorn.run(create_app(config), **options)


def app_from_env():
    """The app factory each uvicorn worker calls (see `run_server`)."""
    from safealign.config import config_from_dict
    from safealign.serve.app import create_app

    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    values = json.loads(os.environ[CONFIG_ENV])
    return create_app(config_from_dict(ServeConfig, values, origin=CONFIG_ENV))


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class BackgroundServer:
    """A uvicorn server for `app` in a daemon thread; a context manager that waits for it to
    listen (and, with `wait_ready`, for /readyz) and shuts it down cleanly on exit."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.app = app
        config = uvicorn.Config(
            app,
            host=self.host,
            port=self.port,
            log_level="warning",
            access_log=False,
            lifespan="on",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, wait_ready: bool = True, timeout: float = 120.0) -> BackgroundServer:
        import httpx

        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"the server on {self.url} did not start")
            time.sleep(0.02)
        while wait_ready:
            if httpx.get(f"{self.url}/readyz").status_code == 200:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server on {self.url} never became ready")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
