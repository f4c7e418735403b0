"""User-defined taxonomies from YAML, and the errors a user sees for a bad file."""

from __future__ import annotations

from pathlib import Path

import pytest

from safealign.errors import DataError
from safealign.taxonomy import TaxonomyError, load_taxonomy, map_categories

CUSTOM = Path(__file__).resolve().parents[1] / "fixtures" / "data" / "custom_taxonomy.yaml"


def test_load_custom_taxonomy_from_yaml():
    taxonomy = load_taxonomy(CUSTOM)
    assert taxonomy.name == "acme-policy"
    assert taxonomy.codes == ["A1", "A2", "A3"]
    assert taxonomy["arms"].name == "Weapons Help"
    assert map_categories(["account takeover", "A1"], taxonomy) == ["weapons", "cyber", "privacy"]
    assert map_categories(["A2"], str(CUSTOM)) == ["cyber", "privacy"]


def test_unmapped_custom_category_says_how_to_fix():
    with pytest.raises(TaxonomyError) as info:
        map_categories(["Competitor Talk"], CUSTOM)
    assert 'category "Competitor Talk" of taxonomy "acme-policy" has no coarse mapping' in str(
        info.value
    )
    assert "Add `coarse: <class>`" in str(info.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- just a list", "a taxonomy file must be a mapping."),
        ("categories: []\n", 'field "name": missing or empty.'),
        ("name: x\n", 'field "categories": must be a non-empty list of categories.'),
        ("name: x\ncategories:\n  - {code: A}\n", 'field "categories[0].name": missing or empty.'),
        (
            "name: x\ncategories:\n  - {code: A, name: B, colour: red}\n",
            'field "categories[0]": unknown key(s) colour.',
        ),
        (
            "name: x\ncategories:\n  - {code: A, name: Same}\n  - {code: B, name: same}\n",
            '"same" names both "Same" and "same"',
        ),
        ("name: x\ncategories: [\n", "not valid YAML"),
    ],
)
def test_bad_taxonomy_files(tmp_path, text, expected):
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    with pytest.raises(DataError) as info:
        load_taxonomy(path)
    assert str(info.value).startswith(str(path))
    assert expected in str(info.value)


def test_missing_taxonomy_file(tmp_path):
    with pytest.raises(DataError, match="taxonomy file not found"):
        load_taxonomy(tmp_path / "nope.yaml")
