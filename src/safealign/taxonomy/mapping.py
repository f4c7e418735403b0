"""Map category names from any taxonomy onto safealign's coarse shared classes.

Guards, evaluations and mixed training sets each use a different taxonomy; the coarse classes
are the common ground where their labels can be counted, compared and combined. The mapping is
data: each category's `coarse` entry in its taxonomy YAML.
"""

from __future__ import annotations

from collections.abc import Iterable

from safealign.taxonomy.core import Taxonomy, TaxonomyError
from safealign.taxonomy.loading import load_taxonomy

COARSE = "coarse"


def map_categories(
    names: str | Iterable[str],
    source_taxonomy: str | Taxonomy,
    target: str = COARSE,
) -> list[str]:
    """Coarse class codes for `names` (codes, names or aliases of `source_taxonomy`).

    The result has no duplicates and follows the coarse taxonomy's order. Unknown names and
    categories without a coarse mapping raise `TaxonomyError` naming them.
    """
    if target != COARSE:
        raise TaxonomyError(
            f'cannot map onto "{target}": only the "{COARSE}" classes are a mapping target. '
            f'Map to "{COARSE}" and compare there.'
        )
    source = load_taxonomy(source_taxonomy)
    coarse = load_taxonomy(COARSE)
    if isinstance(names, str):
        names = [names]
    found: set[str] = set()
    for name in names:
        category = source[name]
        if source.name == COARSE:
            found.add(category.code)
            continue
        if not category.coarse:
            raise TaxonomyError(
                f'category "{category.name}" of taxonomy "{source.name}" has no coarse mapping. '
                f"Add `coarse: <class>` to it in the taxonomy YAML; classes: "
                f"{', '.join(coarse.codes)}."
            )
        found.update(coarse[c].code for c in category.coarse)
    return [code for code in coarse.codes if code in found]


def coarse_table(source_taxonomy: str | Taxonomy) -> dict[str, list[str]]:
    """Every category name of `source_taxonomy` with its coarse classes (for docs and checks)."""
    source = load_taxonomy(source_taxonomy)
    return {c.name: map_categories([c.code], source) for c in source}
