"""Every category of every built-in taxonomy maps onto the coarse classes."""

from __future__ import annotations

import pytest

from safealign.taxonomy import (
    BUILTIN_TAXONOMIES,
    COARSE,
    TaxonomyError,
    coarse_table,
    load_taxonomy,
    map_categories,
)

SOURCES = [name for name in BUILTIN_TAXONOMIES if name != COARSE]


def test_coarse_set_is_small_and_ends_with_other():
    coarse = load_taxonomy(COARSE)
    assert 10 <= len(coarse) <= 15
    assert coarse.codes[-1] == "other"


@pytest.mark.parametrize("name", SOURCES)
def test_every_category_maps_to_a_known_coarse_class(name):
    coarse_codes = set(load_taxonomy(COARSE).codes)
    table = coarse_table(name)
    assert len(table) == len(load_taxonomy(name))
    for category, classes in table.items():
        assert classes, f"{name}: {category} maps to nothing"
        assert set(classes) <= coarse_codes


def test_every_coarse_class_is_used_by_some_taxonomy():
    used = {c for name in SOURCES for classes in coarse_table(name).values() for c in classes}
    assert used == set(load_taxonomy(COARSE).codes)


@pytest.mark.parametrize(
    ("names", "source", "expected"),
    [
        (["Cybercrime", "Privacy Violation"], "pku-saferlhf", ["cyber", "privacy"]),
        (["S4", "S7", "S17"], "aegis2", ["weapons", "cyber", "child_safety"]),
        ("S11", "mlcommons", ["self_harm"]),
        (["hate/threatening"], "openai-moderation", ["violence", "hate_harassment"]),
        (
            ["drug_abuse,weapons,banned_substance"],
            "beavertails",
            ["weapons", "regulated_substances"],
        ),
        (["chemical_biological"], "harmbench", ["weapons"]),
        (["Adult Content"], "do-not-answer", ["sexual"]),
        (["crime", "Violence"], "coarse", ["violence", "crime"]),
        ([], "aegis2", []),
    ],
)
def test_map_categories(names, source, expected):
    assert map_categories(names, source) == expected


def test_map_categories_errors():
    with pytest.raises(TaxonomyError, match='unknown category "Nope" in taxonomy "aegis2"'):
        map_categories(["Nope"], "aegis2")
    with pytest.raises(TaxonomyError, match='only the "coarse" classes are a mapping target'):
        map_categories(["S1"], "aegis2", target="mlcommons")
