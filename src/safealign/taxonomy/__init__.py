"""Harm taxonomies: named category sets, severity levels, and maps onto shared coarse classes."""

from safealign.taxonomy.core import Category, Taxonomy, TaxonomyError, normalize
from safealign.taxonomy.loading import (
    BUILTIN_TAXONOMIES,
    load_taxonomy,
    taxonomy_from_dict,
    taxonomy_from_yaml,
)
from safealign.taxonomy.mapping import COARSE, coarse_table, map_categories
from safealign.taxonomy.severity import (
    SEVERITY_NAMES,
    Severity,
    is_harmful,
    max_severity,
    parse_severity,
    severity_name,
)

__all__ = [
    "BUILTIN_TAXONOMIES",
    "COARSE",
    "SEVERITY_NAMES",
    "Category",
    "Severity",
    "Taxonomy",
    "TaxonomyError",
    "coarse_table",
    "is_harmful",
    "load_taxonomy",
    "map_categories",
    "max_severity",
    "normalize",
    "parse_severity",
    "severity_name",
    "taxonomy_from_dict",
    "taxonomy_from_yaml",
]
