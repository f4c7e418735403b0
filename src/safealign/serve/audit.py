"""The audit log: one row per decision, in SQLite (default) or PostgreSQL, through SQLAlchemy.

`AuditStore` is the one interface; the back-end is chosen by URL. Rows are queued by request
handlers (never blocking them) and written by one background thread in batched transactions;
`flush()` returns once everything queued so far is committed, and `close()` flushes first, so a
clean shutdown loses nothing. The schema carries a version in `safealign_audit_meta`; opening a
database written by a newer safealign is refused instead of corrupting it.

Texts (prompts, answers) are stored only when asked (`audit_texts`), never by default.
"""

from __future__ import annotations

import csv
import json
import logging
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    func,
    insert,
    select,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from safealign.errors import ConfigError
from safealign.io import atomic_path
from safealign.models.paths import safealign_home

SCHEMA_VERSION = 1
log = logging.getLogger(__name__)

metadata = MetaData()
decisions = Table(
    "safealign_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String(64), nullable=False, index=True),
    Column("created_at", Float, nullable=False, index=True),  # seconds since the epoch, UTC
    Column("key_id", String(32), nullable=False, index=True),
    Column("endpoint", String(64), nullable=False),
    Column("model", String(256)),
    Column("flagged", Boolean),
    Column("action", String(32), nullable=False, index=True),
    Column("severity", Integer),
    Column("categories", JSON),
    Column("verdict", JSON),
    Column("policy_version", String(64)),
    Column("latency_ms", Float, nullable=False),
    Column("status", Integer, nullable=False),
    Column("error", String(256)),
    Column("prompt_text", Text),
    Column("response_text", Text),
)
meta_table = Table(
    "safealign_audit_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(256), nullable=False),
)
COLUMNS = [c.name for c in decisions.columns if c.name != "id"]


@dataclass
class AuditRecord:
    """One decision: who asked, what the guard said, what the service did, how long it took."""

    request_id: str
    key_id: str
    endpoint: str
    action: str
    latency_ms: float
    status: int = 200
    created_at: float = field(default_factory=time.time)
    model: str | None = None
    flagged: bool | None = None
    severity: int | None = None
    categories: list[str] = field(default_factory=list)
    verdict: Any = None
    policy_version: str | None = None
    error: str | None = None
    prompt_text: str | None = None
    response_text: str | None = None


def default_audit_url() -> str:
    return f"sqlite:///{safealign_home() / 'serve' / 'audit.db'}"


def resolve_url(url: str | None) -> str:
    """The default SQLite file when None; plain postgresql:// gets the installed psycopg 3."""
    url = url or default_audit_url()
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


class AuditStore:
    """Queue decisions from any thread; one writer thread commits them in batches."""

    def __init__(self, url: str | None = None, batch_size: int = 500, *, writer: bool = True):
        self.url = resolve_url(url)
        self.engine = open_engine(self.url)
        ensure_schema(self.engine)
        self.batch_size = batch_size
        self.write_errors = 0
        self._queue: queue.Queue[AuditRecord | None] = queue.Queue()
        self._writer: threading.Thread | None = None
        if writer:
            self._writer = threading.Thread(
                target=self._write_loop, name="audit-writer", daemon=True
            )
            self._writer.start()

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    def record(self, row: AuditRecord) -> None:
        self._queue.put(row)

    def flush(self) -> None:
        """Block until every row queued before this call is committed (or failed for good)."""
        self._queue.join()

    def close(self) -> None:
        if self._writer is not None:
            self.flush()
            self._queue.put(None)
            self._writer.join(timeout=10)
        self.engine.dispose()

    def count(self, **filters: Any) -> int:
        with self.engine.connect() as conn:
            query = select(func.count()).select_from(decisions)
            return int(conn.execute(_filtered(query, **filters)).scalar_one())

    def rows(
        self,
        since: float | None = None,
        until: float | None = None,
        key_id: str | None = None,
        action: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Rows in time order, streamed (the whole log is never held in memory)."""
        query = _filtered(
            select(decisions).order_by(decisions.c.created_at, decisions.c.id),
            since=since,
            until=until,
            key_id=key_id,
            action=action,
        )
        with self.engine.connect() as conn:
            result = conn.execution_options(yield_per=1000).execute(query)
            for row in result.mappings():
                yield dict(row)

    def _write_loop(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            batch = [first]
            while len(batch) < self.batch_size:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = any(row is None for row in batch)
            records = [asdict(row) for row in batch if row is not None]
            if records:
                self._insert(records)
            for _ in batch:
                self._queue.task_done()

    def _insert(self, records: list[dict[str, Any]]) -> None:
        for attempt in range(5):
            try:
                with self.engine.begin() as conn:
                    conn.execute(insert(decisions), records)
                return
            except SQLAlchemyError as exc:  # a locked or restarting database: retry, then count
                if attempt == 4:
                    self.write_errors += len(records)
                    log.error("audit: %d rows not written: %s", len(records), type(exc).__name__)
                    return
                time.sleep(0.05 * 2**attempt)


def open_engine(url: str) -> Engine:
    """An engine for `url`; SQLite files get WAL mode, so readers never block the writer."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    try:
        return create_engine(url, pool_pre_ping=True)
    except Exception as exc:  # an unknown dialect or a missing driver
        raise ConfigError(
            f"audit_url {parsed.render_as_string(hide_password=True)}: {exc}. Use "
            "sqlite:///path.db or postgresql+psycopg://user:password@host/db."
        ) from exc


def ensure_schema(engine: Engine) -> int:
    """Create the tables when missing and check the recorded schema version."""
    try:
        metadata.create_all(engine)
        with engine.begin() as conn:
            found = conn.execute(
                select(meta_table.c.value).where(meta_table.c.key == "schema_version")
            ).scalar_one_or_none()
            if found is None:
                conn.execute(
                    insert(meta_table).values(key="schema_version", value=str(SCHEMA_VERSION))
                )
                return SCHEMA_VERSION
    except SQLAlchemyError as exc:
        url = engine.url.render_as_string(hide_password=True)
        raise ConfigError(
            f"audit database {url}: cannot open it ({exc.__class__.__name__}: "
            f"{str(exc).splitlines()[0]}). Check audit_url."
        ) from exc
    version = int(found)
    if version > SCHEMA_VERSION:
        raise ConfigError(
            f"audit database schema version {version} is newer than this safealign's "
            f"({SCHEMA_VERSION}); upgrade safealign or point audit_url at another database."
        )
    return version


def _filtered(query, since=None, until=None, key_id=None, action=None):
    if since is not None:
        query = query.where(decisions.c.created_at >= since)
    if until is not None:
        query = query.where(decisions.c.created_at < until)
    if key_id is not None:
        query = query.where(decisions.c.key_id == key_id)
    if action is not None:
        query = query.where(decisions.c.action == action)
    return query


# -- export -----------------------------------------------------------------------------------


def _field(text: str, default=None) -> Any:
    return field(default=default, metadata={"help": text})


@dataclass
class AuditExportConfig:
    """`safealign audit export`: which rows of which audit log, to which file."""

    url: str | None = _field("Audit database URL (default: the service's default SQLite file).")
    output: str = _field('Output file; "-" writes to stdout.', "-")
    format: str | None = _field('"jsonl" or "csv" (default: from the output suffix, else jsonl).')
    since: str | None = _field(
        'Only rows at or after this time (ISO 8601, e.g. "2026-01-31T12:00"; UTC by default).'
    )
    until: str | None = _field("Only rows before this time (ISO 8601).")
    key_id: str | None = _field("Only rows of this key id (as shown in the log).")
    action: str | None = _field("Only rows with this action (allow, annotate, refuse, ...).")


def export_audit(config: AuditExportConfig, stdout=None) -> int:
    """Write the selected rows as JSONL or CSV; returns how many. Files are written atomically."""
    fmt = config.format or ("csv" if str(config.output).endswith(".csv") else "jsonl")
    if fmt not in ("jsonl", "csv"):
        raise ConfigError(f'audit export format must be "jsonl" or "csv", got "{fmt}".')
    since = _parse_time(config.since, "since")
    until = _parse_time(config.until, "until")
    url = make_url(resolve_url(config.url))
    sqlite_file = url.get_backend_name() == "sqlite" and url.database
    if sqlite_file and not Path(url.database).expanduser().is_file():
        raise ConfigError(f"{url.database}: no audit database here. Pass --url.")
    store = AuditStore(config.url, writer=False)
    rows = store.rows(since=since, until=until, key_id=config.key_id, action=config.action)
    try:
        if config.output == "-":
            import sys

            return _write_rows(rows, stdout or sys.stdout, fmt)
        with atomic_path(config.output) as tmp, open(tmp, "w", newline="") as handle:
            return _write_rows(rows, handle, fmt)
    finally:
        store.close()


def _write_rows(rows: Iterator[dict[str, Any]], handle, fmt: str) -> int:
    count = 0
    writer = csv.DictWriter(handle, fieldnames=["id", "time", *COLUMNS]) if fmt == "csv" else None
    if writer is not None:
        writer.writeheader()
    for row in rows:
        row = {"id": row["id"], "time": _iso(row["created_at"]), **row}
        if writer is not None:
            for key in ("categories", "verdict"):
                row[key] = json.dumps(row[key]) if row[key] is not None else ""
            writer.writerow(row)
        else:
            handle.write(json.dumps(row, default=str) + "\n")
        count += 1
    return count


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat()


def _parse_time(value: str | None, name: str) -> float | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise ConfigError(
            f'--{name} "{value}" is not an ISO 8601 time; write e.g. 2026-01-31T12:00 (UTC '
            "unless an offset like +02:00 is given)."
        ) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()
