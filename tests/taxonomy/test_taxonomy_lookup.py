"""Built-in taxonomies: contents, order, and case/spacing tolerant lookups."""

from __future__ import annotations

import pytest

from safealign.taxonomy import BUILTIN_TAXONOMIES, TaxonomyError, load_taxonomy, normalize

PKU_ORDER = [
    "Endangering National Security",
    "Insulting Behavior",
    "Discriminatory Behavior",
    "Endangering Public Health",
    "Copyright Issues",
    "Violence",
    "Drugs",
    "Privacy Violation",
    "Economic Crime",
    "Mental Manipulation",
    "Human Trafficking",
    "Physical Harm",
    "Sexual Content",
    "Cybercrime",
    "Disrupting Public Order",
    "Environmental Damage",
    "Psychological Harm",
    "White-Collar Crime",
    "Animal Abuse",
]


def test_pku_saferlhf_has_19_categories_in_dataset_order():
    assert load_taxonomy("pku-saferlhf").names == PKU_ORDER


def test_aegis2_codes_s1_to_s23():
    aegis = load_taxonomy("aegis2")
    assert aegis.codes == [f"S{i}" for i in range(1, 24)]
    assert aegis["S7"].name == "Sexual (minor)"
    assert aegis["S19"].name == "Political/Misinformation/Conspiracy"


def test_mlcommons_hazards():
    mlc = load_taxonomy("mlcommons")
    assert mlc.codes == [f"S{i}" for i in range(1, 15)]
    assert mlc.names[:4] == [
        "Violent Crimes",
        "Non-Violent Crimes",
        "Sex-Related Crimes",
        "Child Sexual Exploitation",
    ]
    assert mlc.names[-1] == "Code Interpreter Abuse"


def test_openai_moderation_codes():
    assert load_taxonomy("openai-moderation").codes == [
        "sexual",
        "hate",
        "violence",
        "harassment",
        "self-harm",
        "sexual/minors",
        "hate/threatening",
        "violence/graphic",
    ]


@pytest.mark.parametrize("name", BUILTIN_TAXONOMIES)
def test_every_builtin_loads_with_descriptions(name):
    taxonomy = load_taxonomy(name)
    assert taxonomy.name == name
    assert all(c.description and c.description.endswith(".") for c in taxonomy)
    assert len(set(taxonomy.codes)) == len(taxonomy)


@pytest.mark.parametrize(
    ("taxonomy", "key", "name"),
    [
        ("pku-saferlhf", "white collar crime", "White-Collar Crime"),
        ("pku-saferlhf", "PRIVACY_VIOLATION", "Privacy Violation"),
        ("aegis2", "s9", "PII/Privacy"),
        ("aegis2", "Guns/Illegal Weapons", "Guns and Illegal Weapons"),
        ("aegis2", "sexual minor", "Sexual (minor)"),
        ("mlcommons", "Suicide and Self Harm", "Suicide & Self-Harm"),
        ("openai-moderation", "self harm", "Self-Harm"),
        (
            "beavertails",
            "drug_abuse,weapons,banned_substance",
            "Drugs, Weapons and Banned Substances",
        ),
        ("harmbench", "cybercrime_intrusion", "Cybercrime and Intrusion"),
        ("do-not-answer", "treat chatbot as a human", "Treat Chatbot as a Human"),
    ],
)
def test_lookup_by_code_name_or_alias(taxonomy, key, name):
    found = load_taxonomy(taxonomy)[key]
    assert found.name == name
    assert key in load_taxonomy(taxonomy)


def test_unknown_category_suggests_close_names():
    with pytest.raises(TaxonomyError) as info:
        load_taxonomy("aegis2")["Violance"]
    assert str(info.value).startswith(
        'unknown category "Violance" in taxonomy "aegis2". Did you mean \'Violence\'?'
    )
    assert load_taxonomy("aegis2").find("Violance") is None


def test_unknown_taxonomy_names_builtins():
    with pytest.raises(TaxonomyError) as info:
        load_taxonomy("aegis")
    assert 'unknown taxonomy "aegis". Did you mean "aegis2"?' in str(info.value)
    assert "or pass a path to a YAML file" in str(info.value)


def test_canonical_keeps_taxonomy_order_and_drops_duplicates():
    pku = load_taxonomy("pku-saferlhf")
    assert pku.canonical(["animal abuse", "violence", "Violence"]) == ["Violence", "Animal Abuse"]


def test_normalize():
    assert normalize("Suicide & Self-Harm") == normalize("suicide and self harm")
