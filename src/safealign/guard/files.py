"""`safealign guard classify`: conversations in (JSONL file or stdin), verdicts out (JSONL).

Accepted rows: {"prompt": ..., "response": ...}, {"messages": [{"role", "content"}, ...]}, or a
safealign Sample dict. An "id" field is copied to the verdict row so results can be joined back.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from safealign.data.reading import read_text
from safealign.data.schema import Message
from safealign.errors import DataError
from safealign.guard.evaluation import classify_sorted
from safealign.guard.hub_guard import HubGuard
from safealign.guard.llm_guard import LLMGuard
from safealign.guard.loading import load_guard
from safealign.guard.verdict import Turns, split_conversation
from safealign.io import atomic_path


@dataclass
class GuardClassifyConfig:
    """Which guard judges which file."""

    guard: str = "embedded"
    """Guard spec: "embedded", a saved guard folder, or "llm:<model spec>"."""
    input: str = "-"
    """JSONL file of conversations ("-" = stdin)."""
    output: str = "-"
    """JSONL file for verdicts ("-" = stdout)."""
    batch_size: int = 32
    """Conversations per guard call."""
    categories: list[str] = field(default_factory=list)
    """LLM and hub guards only: categories to check instead of the default list."""
    dtype: str = "float32"
    """Model dtype ("bfloat16" is faster on CPUs with avx512_bf16)."""


def read_conversations(lines: Iterable[str], origin: str = "stdin") -> Iterator[tuple[Any, Turns]]:
    """(id, Turns) per non-empty JSONL line; DataError names the line and what was expected."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"not valid JSON ({exc.msg})", path=origin, line=number) from exc
        yield row.get("id") if isinstance(row, dict) else None, _turns(row, origin, number)


def _turns(row: Any, origin: str, number: int) -> Turns:

    if isinstance(row, dict) and isinstance(row.get("messages"), list):
        try:
            return split_conversation(row["messages"])
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(
                f"bad messages ({exc})", path=origin, line=number, field="messages"
            ) from exc
    if isinstance(row, dict) and isinstance(row.get("prompt"), str) and row["prompt"].strip():
        response = row.get("response")
        if response is None and row.get("responses"):
            first = row["responses"][0]
            response = first.get("text") if isinstance(first, dict) else first
        context = [Message(m["role"], m["content"]) for m in row.get("context") or []]
        return Turns(context, row["prompt"], response)
    raise DataError(
        'each line needs "prompt" (optionally "response") or "messages"',
        path=origin,
        line=number,
        fix='Example: {"id": 1, "prompt": "How do I pick a lock?", "response": "..."}',
    )


def classify_file(
    config: GuardClassifyConfig, stdin: TextIO | None = None, stdout: TextIO | None = None
) -> int:
    """Classify every conversation of the input; write one verdict row per line; return count."""

    if config.input == "-":
        rows = list(read_conversations(stdin or sys.stdin))
    else:
        path = Path(config.input)
        if not path.is_file():
            raise DataError("file not found", path=path, fix="Give a JSONL file, or - for stdin.")
        # An empty file is an empty stream (like `cat`); anything else must be UTF-8 text.
        text = read_text(path) if path.stat().st_size else ""
        rows = list(read_conversations(text.splitlines(), str(path)))
    guard = load_guard(config.guard, dtype=config.dtype)
    if config.categories and not isinstance(guard, LLMGuard | HubGuard):
        raise DataError(
            "--categories works with LLM and hub guards only: an encoder guard's categories are "
            "fixed when it is trained. Use --guard llm:embedded, hub:<id>, or an LLM guard folder."
        )
    options = {"categories": config.categories} if config.categories else {}
    verdicts = classify_sorted(guard, [t for _, t in rows], config.batch_size, **options)
    out_rows = [{"id": i, **v.to_dict()} for (i, _), v in zip(rows, verdicts, strict=True)]
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in out_rows)
    if config.output == "-":
        (stdout or sys.stdout).write(text)
    else:
        with atomic_path(config.output) as staged:
            staged.write_text(text)
    return len(out_rows)
