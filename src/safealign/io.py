"""Atomic file writes: a reader never sees half a file, a crash never leaves one behind."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from safealign.errors import ConfigError, DataError


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; on success it is renamed onto `target`.

    Works for files and directories. On error the temporary is removed and `target` is untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    staged = tmp / target.name
    try:
        yield staged
        if target.is_dir() and staged.is_dir():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.replace(target, old)
            os.replace(staged, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staged, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_text_atomic(path: str | Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_json_atomic(path: str | Path, obj: Any) -> Path:
    return write_text_atomic(
        path, json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n"
    )


def write_jsonl_atomic(path: str | Path, rows: Iterable[dict[str, Any]]) -> Path:
    with atomic_path(path) as tmp, tmp.open("w") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    return Path(path)


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Read a JSONL file written by safealign itself (user files go through safealign.data).

    A file that is not UTF-8 JSON lines (truncated, edited, or not ours) is a `DataError` that
    names the file and the line.
    """
    path = Path(path)
    rows = []
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
                if line.strip():
                    rows.append(json.loads(line))
            except UnicodeDecodeError as exc:
                raise DataError(
                    f"not UTF-8 text (byte {exc.start} of the line is 0x{raw[exc.start]:02x})",
                    path=path,
                    line=number,
                ) from exc
            except json.JSONDecodeError as exc:
                raise DataError(
                    f"not valid JSON ({exc.msg}, column {exc.colno})",
                    path=path,
                    line=number,
                    fix="The file may be truncated; write it again with safealign.",
                ) from exc
    return rows


class Journal:
    """An append-only record of finished units of work, so that an interrupted loop resumes.

    Line 1 holds a fingerprint of everything the work depends on; every further line is one
    append of finished units, `{"done": [[index, value], ...]}`, written with one `write` and
    flushed. A last line cut short by a kill is dropped when the journal is reopened, so what
    is read back is always whole units. Reopening with `resume=False` starts a new journal.
    """

    def __init__(self, path: str | Path, fingerprint: str, *, resume: bool) -> None:
        self.path = Path(path)
        self.fingerprint = fingerprint
        self.done: dict[int, Any] = {}
        if resume and self.path.is_file():
            self.done = self._read()
        # Rewritten whole: a new journal, or the old one without a torn last line.
        write_jsonl_atomic(
            self.path,
            [{"fingerprint": fingerprint}, *({"done": [[k, v]]} for k, v in self.done.items())],
        )

    def add(self, units: dict[int, Any]) -> None:
        """Record finished units (index -> JSON-able value) in one appended line."""
        line = json.dumps({"done": [[k, v] for k, v in units.items()]}, ensure_ascii=False)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self.done.update(units)

    @staticmethod
    def count(path: str | Path) -> int:
        """Units recorded in a journal's whole lines (0 if there is none), for progress lines."""
        path = Path(path)
        if not path.is_file():
            return 0
        seen: set[int] = set()
        for line in path.read_bytes().decode("utf-8", errors="replace").splitlines()[1:]:
            try:
                seen.update(int(k) for k, _ in json.loads(line)["done"])
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                continue
        return len(seen)

    def _read(self) -> dict[int, Any]:
        lines = self.path.read_bytes().decode("utf-8", errors="replace").splitlines()
        try:
            header = json.loads(lines[0]) if lines else {}
        except json.JSONDecodeError:
            header = {}
        if header.get("fingerprint") != self.fingerprint:
            raise ConfigError(
                f"{self.path} was written by a run with other settings (model, prompts or "
                "decoding), so its answers cannot be reused. Run without --resume to start "
                "again, or use another output."
            )
        done: dict[int, Any] = {}
        for line in lines[1:]:
            try:
                units = json.loads(line)["done"]
            except (json.JSONDecodeError, KeyError, TypeError):
                continue  # torn by a kill mid-write: those units are simply redone
            done.update({int(k): v for k, v in units})
        return done
