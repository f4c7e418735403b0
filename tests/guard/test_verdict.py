"""The verdict contract: every conversation form, the None-when-not-asked rule, round trips."""

from __future__ import annotations

import pytest

from safealign.data.schema import Message, Response, Sample
from safealign.guard.verdict import LabelScore, Verdict, as_conversation, split_conversation


def test_a_prompt_alone_has_no_response() -> None:
    turns = split_conversation("How do I pick a lock?")
    assert (turns.context, turns.prompt, turns.response) == ([], "How do I pick a lock?", None)


def test_messages_split_into_context_request_and_response() -> None:
    conversation = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "and now?"},
        {"role": "assistant", "content": "[answer]"},
    ]
    turns = split_conversation(conversation)
    assert turns.prompt == "and now?"
    assert turns.response == "[answer]"
    assert [m.role for m in turns.context] == ["system", "user", "assistant"]
    assert as_conversation(turns) == [Message(m["role"], m["content"]) for m in conversation]


def test_a_sample_is_judged_with_its_first_response() -> None:
    sample = Sample(prompt="q", responses=[Response("a0"), Response("a1")])
    assert split_conversation(sample).response == "a0"


def test_a_conversation_without_a_user_turn_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one user message"):
        split_conversation([Message("assistant", "hello")])


def test_verdict_round_trips_through_a_dict_and_reads_the_last_turn() -> None:
    verdict = Verdict(
        prompt_harmful=LabelScore(0.9, True),
        response_harmful=LabelScore(0.2, False),
        refusal=LabelScore(0.8, True),
        categories={"Violence": 0.7},
        flagged_categories=["Violence"],
        severity=2,
        taxonomy="coarse",
    )
    assert Verdict.from_dict(verdict.to_dict()) == verdict
    assert verdict.harmful is False  # the response is what was judged last
    assert Verdict(prompt_harmful=LabelScore(0.9, True)).harmful is True
    assert Verdict(parse_error="x").harmful is None
