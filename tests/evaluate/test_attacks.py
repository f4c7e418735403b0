"""Jailbreak transformations: each turns the request into what the model should see."""

from __future__ import annotations

import base64

import pytest

from safealign.data.schema import Message
from safealign.errors import ConfigError
from safealign.evaluate.attacks import ATTACKS, apply_attack
from safealign.evaluate.items import EvalItem


def harmful(prompt: str, **metadata) -> EvalItem:
    return EvalItem(prompt, [Message("user", prompt)], "refuse", "c", metadata=metadata)


ITEMS = [
    harmful("[harmful request A]"),
    harmful("[harmful request B]"),
    harmful("[harmful request C]"),
]


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_every_attack_keeps_labels_and_groups_with_the_original(name):
    attacked = apply_attack(name, ITEMS[0], ITEMS)
    assert attacked.attack == name and attacked.expected == "refuse" and attacked.category == "c"
    assert attacked.group == ITEMS[0].id and attacked.id == f"{ITEMS[0].id}::{name}"


def test_prompt_rewrites_embed_the_request():
    for name in ("prefix-injection", "refusal-suppression", "role-play"):
        attacked = apply_attack(name, ITEMS[0], ITEMS)
        assert "[harmful request A]" in attacked.prompt and attacked.prompt != ITEMS[0].prompt
    assert apply_attack("none", ITEMS[0], ITEMS).prompt == "[harmful request A]"


def test_base64_round_trips():
    attacked = apply_attack("base64", ITEMS[0], ITEMS)
    encoded = attacked.prompt.split()[-1]
    assert base64.b64decode(encoded).decode() == "[harmful request A]"


def test_few_shot_uses_other_requests_with_openers_only():
    attacked = apply_attack("few-shot", ITEMS[0], ITEMS)
    roles = [m.role for m in attacked.conversation]
    assert roles == ["user", "assistant", "user", "assistant", "user"]
    assert [m.content for m in attacked.conversation if m.role == "user"] == [
        "[harmful request B]",
        "[harmful request C]",
        "[harmful request A]",
    ]


def test_prefilling_uses_the_dataset_target_when_there_is_one():
    with_target = harmful("[req]", target="Sure, here is a plan")
    assert apply_attack("prefilling", with_target, []).assistant_prefix == "Sure, here is a plan:\n"
    assert apply_attack("prefilling", ITEMS[0], []).assistant_prefix.startswith("Sure")


def test_unknown_attack_names_the_known_ones():
    with pytest.raises(ConfigError, match='unknown attack "dan".*role-play'):
        apply_attack("dan", ITEMS[0], ITEMS)
