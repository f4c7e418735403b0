"""Categories and taxonomies: named sets of harm categories, looked up by code or name.

Every dataset and guard names harms its own way ("S1", "Violence", "violence,aiding_and_abetting").
A `Taxonomy` makes those names comparable: lookups ignore case, spacing and punctuation, and each
category may say which coarse shared classes it belongs to (see `mapping.py`).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from safealign.errors import SafealignError


class TaxonomyError(SafealignError):
    """An unknown taxonomy or category, or a taxonomy file that does not fit the format."""


@dataclass(frozen=True)
class Category:
    """One harm category. `coarse` names the shared coarse classes it maps onto."""

    code: str
    name: str
    description: str = ""
    coarse: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Taxonomy:
    """A named, ordered set of categories (order is the source's own, e.g. PKU's 19)."""

    name: str
    categories: tuple[Category, ...]
    title: str = ""
    source: str = ""
    _index: dict[str, Category] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index: dict[str, Category] = {}
        for category in self.categories:
            for key in {normalize(k) for k in (category.code, category.name, *category.aliases)}:
                other = index.get(key)
                if other is not None and other is not category:
                    raise TaxonomyError(
                        f'taxonomy "{self.name}": "{key}" names both "{other.name}" and '
                        f'"{category.name}". Give each category a distinct code, name and aliases.'
                    )
                index[key] = category
        object.__setattr__(self, "_index", index)

    def find(self, key: str) -> Category | None:
        """The category whose code, name or alias matches `key` (case/spacing tolerant)."""
        return self._index.get(normalize(key))

    def __getitem__(self, key: str) -> Category:
        category = self.find(key)
        if category is None:
            raise TaxonomyError(self.unknown_message(key))
        return category

    def unknown_message(self, key: str) -> str:
        """The error text for a category this taxonomy lacks, with the closest names."""
        close = difflib.get_close_matches(key, self.names, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        return (
            f'unknown category "{key}" in taxonomy "{self.name}".{hint} '
            f"Known: {', '.join(self.names)}."
        )

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.find(key) is not None

    def __iter__(self) -> Iterator[Category]:
        return iter(self.categories)

    def __len__(self) -> int:
        return len(self.categories)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.categories]

    @property
    def codes(self) -> list[str]:
        return [c.code for c in self.categories]

    def canonical(self, keys: list[str]) -> list[str]:
        """Canonical names for `keys` in taxonomy order, without duplicates; raises on unknowns."""
        found = {self[key].name for key in keys}
        return [name for name in self.names if name in found]


def normalize(text: str) -> str:
    """Lookup key: lowercase, "&" read as "and", everything but letters and digits dropped."""
    return re.sub(r"[^0-9a-z]", "", text.lower().replace("&", "and"))
