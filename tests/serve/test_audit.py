"""The audit store on both back-ends alike (SQLite file, real PostgreSQL server), the schema
version check, `safealign audit export`, and a service writing to PostgreSQL under load."""

from __future__ import annotations

import concurrent.futures
import csv
import io
import json
import sys
import time

import httpx
import pytest
from sqlalchemy import update

from safealign.errors import ConfigError
from safealign.serve.audit import (
    AuditExportConfig,
    AuditRecord,
    AuditStore,
    export_audit,
    meta_table,
)

from .conftest import API_KEY


@pytest.fixture(params=["sqlite", "postgresql"])
def audit_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/audit.db"
    return request.getfixturevalue("postgres_url")


def _row(i: int, action: str, key: str, at: float) -> AuditRecord:
    return AuditRecord(
        request_id=f"req-{i}",
        key_id=key,
        endpoint="/v1/moderations",
        action=action,
        latency_ms=float(i),
        created_at=at,
        flagged=action != "allow",
        severity=i % 4,
        categories=["Violence"] if action != "allow" else [],
        verdict={"n": i},
        policy_version="1",
    )


def test_store_writes_every_row_from_many_threads_and_filters(audit_url):
    store = AuditStore(audit_url)
    assert store.backend in ("sqlite", "postgresql")
    start = 1_700_000_000.0

    def write(i):
        store.record(_row(i, "refuse" if i % 5 == 0 else "allow", f"k{i % 2}", start + i))

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(write, range(200)))
    store.flush()
    assert store.count() == 200
    assert store.count(action="refuse") == 40
    assert store.count(key_id="k1") == 100
    rows = list(store.rows(since=start + 10, until=start + 20))
    assert [r["request_id"] for r in rows] == [f"req-{i}" for i in range(10, 20)]
    assert rows[0]["verdict"] == {"n": 10} and rows[0]["categories"] == ["Violence"]
    store.close()
    reopened = AuditStore(audit_url)  # the schema is found, not recreated
    assert reopened.count() == 200
    with reopened.engine.begin() as conn:
        conn.execute(update(meta_table).values(value="99"))
    reopened.close()
    with pytest.raises(ConfigError, match="schema version 99 is newer"):
        AuditStore(audit_url)


def test_export_jsonl_and_csv_with_filters(audit_url, tmp_path):
    store = AuditStore(audit_url)
    start = 1_767_225_600.0  # 2026-01-01T00:00:00Z
    for i in range(6):
        store.record(
            _row(i, "refuse" if i % 2 else "allow", "kA" if i < 3 else "kB", start + 3600 * i)
        )
    store.close()
    out = tmp_path / "rows.jsonl"
    count = export_audit(
        AuditExportConfig(url=audit_url, output=str(out), action="refuse", since="2026-01-01T02:00")
    )
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert count == 2 and [r["request_id"] for r in lines] == ["req-3", "req-5"]
    assert lines[0]["time"] == "2026-01-01T03:00:00+00:00"
    buffer = io.StringIO()
    export_audit(AuditExportConfig(url=audit_url, format="csv", key_id="kB"), stdout=buffer)
    table = list(csv.DictReader(io.StringIO(buffer.getvalue())))
    assert [r["request_id"] for r in table] == ["req-3", "req-4", "req-5"]
    assert json.loads(table[0]["verdict"]) == {"n": 3}
    with pytest.raises(ConfigError, match="not an ISO 8601 time"):
        export_audit(AuditExportConfig(url=audit_url, since="yesterday"))


def test_cli_audit_export(tmp_path, monkeypatch, capsys):
    from safealign.cli import main

    url = f"sqlite:///{tmp_path}/cli.db"
    store = AuditStore(url)
    for i in range(3):
        store.record(_row(i, "allow", "kC", time.time()))
    store.close()
    out = tmp_path / "out.csv"

    def run(*args: str) -> int:
        monkeypatch.setattr(sys, "argv", ["safealign", "audit", "export", *args])
        try:
            main()
        except SystemExit as exc:
            return int(exc.code or 0)
        return 0

    assert run("--url", url, "-o", str(out)) == 0
    assert len(list(csv.DictReader(out.open()))) == 3
    assert run("--url", f"sqlite:///{tmp_path}/none.db") == 2
    assert "no audit database here" in capsys.readouterr().err


def test_service_on_postgresql_records_one_row_per_request(serve, postgres_url):
    server = serve(audit_url=postgres_url, api_keys=[API_KEY])
    headers = {"Authorization": f"Bearer {API_KEY}"}

    def one(i):
        r = httpx.post(
            f"{server.url}/v1/moderations",
            json={"input": f"hello number {i}"},
            headers=headers,
            timeout=60,
        )
        return r.status_code

    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        statuses = list(pool.map(one, range(40)))
    assert statuses == [200] * 40
    store = server.app.state.audit
    store.flush()
    assert store.backend == "postgresql"
    assert store.count() == 40
