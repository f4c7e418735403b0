"""docs/taxonomy.md shows exactly what the YAML data says."""

from __future__ import annotations

from pathlib import Path

from safealign.taxonomy.markdown import END, START, render_taxonomy_tables, replace_generated

DOC = Path(__file__).resolve().parents[2] / "docs" / "taxonomy.md"


def test_doc_tables_match_the_data():
    text = DOC.read_text()
    assert replace_generated(text, render_taxonomy_tables()) == text, (
        "docs/taxonomy.md is stale: run python -m safealign.taxonomy.markdown docs/taxonomy.md"
    )


def test_tables_cover_every_category():
    tables = render_taxonomy_tables()
    assert "| `S23` | Immoral/Unethical | `other` |" in tables
    assert "| `hate/threatening` | Hate/Threatening | `violence`, `hate_harassment` |" in tables
    assert START not in tables and END not in tables
