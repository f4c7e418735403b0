"""The taxonomy tables in docs/taxonomy.md, generated from the YAML data.

Run `python -m safealign.taxonomy.markdown docs/taxonomy.md` after editing a taxonomy; a test
fails when the doc and the data disagree.
"""

from __future__ import annotations

import sys
from pathlib import Path

from safealign.io import write_text_atomic
from safealign.taxonomy.loading import BUILTIN_TAXONOMIES, load_taxonomy
from safealign.taxonomy.mapping import COARSE, map_categories

START = "<!-- generated: taxonomy tables (python -m safealign.taxonomy.markdown) -->"
END = "<!-- end generated -->"


def render_taxonomy_tables() -> str:
    """One Markdown table per built-in taxonomy: code, name, coarse classes, description."""
    parts: list[str] = []
    for name in BUILTIN_TAXONOMIES:
        taxonomy = load_taxonomy(name)
        parts.append(f"### `{taxonomy.name}`: {taxonomy.title}\n")
        if taxonomy.source:
            parts.append(f"Source: {taxonomy.source}.\n")
        if name == COARSE:
            parts.append("| code | name | description |\n|---|---|---|")
            parts += [f"| `{c.code}` | {c.name} | {c.description} |" for c in taxonomy]
        else:
            parts.append("| code | name | coarse | description |\n|---|---|---|---|")
            for c in taxonomy:
                coarse = ", ".join(f"`{k}`" for k in map_categories([c.code], taxonomy))
                parts.append(f"| `{c.code}` | {c.name} | {coarse} | {c.description} |")
        parts.append("")
    return "\n".join(parts).rstrip() + "\n"


def replace_generated(text: str, tables: str) -> str:
    """`text` with the block between the START and END markers replaced by `tables`."""
    head, start, rest = text.partition(START)
    _, end, tail = rest.partition(END)
    if not start or not end:
        raise ValueError(f"markers {START!r} and {END!r} not found")
    return f"{head}{START}\n\n{tables}\n{END}{tail}"


def update_doc(path: str | Path) -> None:
    path = Path(path)
    write_text_atomic(path, replace_generated(path.read_text(), render_taxonomy_tables()))


if __name__ == "__main__":
    update_doc(sys.argv[1] if len(sys.argv) > 1 else "docs/taxonomy.md")
