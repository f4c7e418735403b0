"""Fixtures for the service tests: one embedded guard for every app, real servers on 127.0.0.1
(the stand-in upstream and safealign itself), and a real PostgreSQL server in a temp folder."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from safealign.serve import ServeConfig, create_app
from safealign.serve.server import BackgroundServer, free_port

from .upstream import upstream_app

API_KEY = "sk-test-alpha"


@pytest.fixture(scope="session")
def guard():
    """The embedded encoder guard, loaded once and shared by every app in the session."""
    from safealign.guard import load_guard

    return load_guard()


@pytest.fixture(scope="module")
def upstream() -> Iterator[BackgroundServer]:
    server = BackgroundServer(upstream_app()).start(wait_ready=False)
    yield server
    server.stop()


@pytest.fixture()
def serve(guard, tmp_path):
    """Start a safealign server for a config (shared guard, SQLite audit in tmp_path unless the
    config names another); stopped at the end of the test."""
    started: list[BackgroundServer] = []

    def start(**fields) -> BackgroundServer:
        fields.setdefault("audit_url", f"sqlite:///{tmp_path}/audit-{len(started)}.db")
        config = ServeConfig(**fields)
        server = BackgroundServer(create_app(config, guard=guard)).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for root in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (root / name).is_file():
            return str(root / name)
    return None


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A real PostgreSQL server on 127.0.0.1 in a temp folder; yields an admin URL.

    Skips with the reason when initdb/postgres are absent. As root, the server runs as the
    `postgres` user (PostgreSQL refuses to run as root)."""
    initdb, postgres = _pg_bin("initdb"), _pg_bin("postgres")
    if not initdb or not postgres:
        pytest.skip("PostgreSQL tests need initdb and postgres on PATH (Debian: postgresql-15)")
    # Not pytest's tmp_path: it is private to root, and the server may run as another user.
    base = Path(tempfile.mkdtemp(prefix="safealign-pg-"))
    data = base / "data"
    as_user: dict = {}
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: run it as `postgres`
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no postgres user to run PostgreSQL as")
        as_user = {"user": "postgres"}
        shutil.chown(base, "postgres")
    subprocess.run(
        [initdb, "-D", str(data), "-U", "safealign", "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
        **as_user,
    )
    port = free_port()
    process = subprocess.Popen(
        [
            postgres,
            "-D",
            str(data),
            "-p",
            str(port),
            "-k",
            str(base),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=off",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        **as_user,
    )
    url = f"postgresql+psycopg://safealign@127.0.0.1:{port}/postgres"
    import sqlalchemy

    deadline = time.monotonic() + 60
    while True:
        try:
            engine = sqlalchemy.create_engine(url)
            with engine.connect():
                pass
            engine.dispose()
            break
        except sqlalchemy.exc.OperationalError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                pytest.fail("PostgreSQL did not start within 60 s")
            time.sleep(0.2)
    try:
        yield url
    finally:
        process.send_signal(signal.SIGINT)  # "fast" shutdown: no waiting for idle clients
        process.wait(timeout=30)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture()
def postgres_url(postgres_server, request) -> str:
    """A fresh, empty database on the test PostgreSQL server."""
    import sqlalchemy

    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name.lower())[:50]
    engine = sqlalchemy.create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return postgres_server.rsplit("/", 1)[0] + "/" + name
