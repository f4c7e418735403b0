"""Built-in taxonomies (YAML package data) and user-defined ones from YAML files.

A taxonomy file looks like the built-ins under `builtin/`:

    name: my-policy
    categories:
      - {code: P1, name: Weapons, description: "...", coarse: weapons, aliases: [arms]}

`coarse` (a class of the "coarse" taxonomy, or a list of them) is optional; without it
`map_categories` cannot map that category and says so.
"""

from __future__ import annotations

import difflib
import functools
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from safealign.errors import DataError
from safealign.taxonomy.core import Category, Taxonomy, TaxonomyError

BUILTIN_TAXONOMIES: tuple[str, ...] = (
    "coarse",
    "pku-saferlhf",
    "aegis2",
    "mlcommons",
    "openai-moderation",
    "beavertails",
    "harmbench",
    "do-not-answer",
)
"""Names accepted by `load_taxonomy`; the first is the shared target of every mapping."""

_CATEGORY_KEYS = {"code", "name", "description", "coarse", "aliases"}


def load_taxonomy(name_or_path: str | Path | Taxonomy) -> Taxonomy:
    """A built-in taxonomy by name, or a user-defined one from a YAML file."""
    if isinstance(name_or_path, Taxonomy):
        return name_or_path
    text = str(name_or_path)
    if text in BUILTIN_TAXONOMIES:
        return _builtin(text)
    path = Path(text)
    if path.suffix in {".yaml", ".yml"} or path.exists():
        if not path.is_file():
            raise DataError("taxonomy file not found.", path=path, fix=_fix_unknown(text))
        return taxonomy_from_yaml(path)
    raise TaxonomyError(f'unknown taxonomy "{text}". {_fix_unknown(text)}')


def taxonomy_from_yaml(path: str | Path) -> Taxonomy:
    """Read and check a taxonomy file; errors name the file and the offending entry."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise DataError(f"not valid YAML ({exc}).", path=path) from exc
    return taxonomy_from_dict(data, origin=path)


def taxonomy_from_dict(data: Any, origin: str | Path = "taxonomy") -> Taxonomy:
    """Build a taxonomy from its YAML mapping, checking every field a user may get wrong."""
    example = "name: my-policy\ncategories:\n  - {code: P1, name: Weapons, coarse: weapons}"
    if not isinstance(data, dict):
        raise DataError("a taxonomy file must be a mapping.", path=origin, fix=f"E.g.\n{example}")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise DataError("missing or empty.", path=origin, field="name", fix=f"E.g.\n{example}")
    raw = data.get("categories")
    if not isinstance(raw, list) or not raw:
        raise DataError(
            "must be a non-empty list of categories.",
            path=origin,
            field="categories",
            fix=f"E.g.\n{example}",
        )
    categories = [_category(entry, i, origin) for i, entry in enumerate(raw)]
    try:
        return Taxonomy(
            name=name.strip(),
            categories=tuple(categories),
            title=str(data.get("title") or ""),
            source=str(data.get("source") or ""),
        )
    except TaxonomyError as exc:
        raise DataError(str(exc), path=origin, field="categories") from exc


def _category(entry: Any, index: int, origin: str | Path) -> Category:
    where = f"categories[{index}]"
    if not isinstance(entry, dict):
        raise DataError("must be a mapping with code and name.", path=origin, field=where)
    unknown = sorted(set(entry) - _CATEGORY_KEYS)
    if unknown:
        raise DataError(
            f"unknown key(s) {', '.join(unknown)}.",
            path=origin,
            field=where,
            fix=f"Allowed keys: {', '.join(sorted(_CATEGORY_KEYS))}.",
        )
    values: dict[str, str] = {}
    for key in ("code", "name"):
        value = entry.get(key)
        if not isinstance(value, str | int) or not str(value).strip():
            raise DataError("missing or empty.", path=origin, field=f"{where}.{key}")
        values[key] = str(value).strip()
    return Category(
        code=values["code"],
        name=values["name"],
        description=str(entry.get("description") or "").strip(),
        coarse=_names(entry.get("coarse"), origin, f"{where}.coarse"),
        aliases=_names(entry.get("aliases"), origin, f"{where}.aliases"),
    )


def _names(value: Any, origin: str | Path, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise DataError("must be a name or a list of names.", path=origin, field=where)


@functools.cache
def _builtin(name: str) -> Taxonomy:
    text = resources.files("safealign.taxonomy").joinpath("builtin", f"{name}.yaml").read_text()
    return taxonomy_from_dict(yaml.safe_load(text), origin=f"builtin/{name}.yaml")


def _fix_unknown(text: str) -> str:
    close = difflib.get_close_matches(text, BUILTIN_TAXONOMIES, n=1)
    hint = f'Did you mean "{close[0]}"? ' if close else ""
    return f"{hint}Built-ins: {', '.join(BUILTIN_TAXONOMIES)}; or pass a path to a YAML file."
