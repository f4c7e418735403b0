"""The one refusal vocabulary: the texts the project writes as refusals are refusals, "warn,
then comply" is not, and every labeller reads an answer the way the evaluation judge does."""

from __future__ import annotations

from safealign.data.refusal import (
    REFUSAL_OPENINGS,
    REFUSAL_WINDOW,
    WRITTEN_REFUSALS,
    is_refusal,
    refusal_phrase,
)
from safealign.evaluate.judges import JudgeInput
from safealign.evaluate.judges.keyword import refusal_keyword_judge
from safealign.guard.generated import DISCLAIMER_OPENINGS, label_item
from safealign.train.synthesis.redteam import length_helpfulness, refusal_marker_judge

ANSWER = " Step one is to gather the materials, then follow the list below."


def test_every_written_refusal_and_prefill_opening_is_a_refusal() -> None:
    for text in (*WRITTEN_REFUSALS, *(o + " that." for o in REFUSAL_OPENINGS)):
        assert is_refusal(text), text


def test_warn_then_comply_is_not_a_refusal() -> None:
    for opening in DISCLAIMER_OPENINGS:
        assert not is_refusal(opening + ANSWER), opening
    assert not is_refusal("As an AI language model, here is an overview:" + ANSWER)


def test_the_opening_decides_and_curly_quotes_match() -> None:
    assert refusal_phrase("I can\u2019t help with that.") == "i can't"
    late = "Here is how." + " x" * REFUSAL_WINDOW + " I'm sorry it is long."
    assert not is_refusal(late) and is_refusal(late, window=None)


def test_the_judge_and_every_labeller_agree_on_the_same_answers() -> None:
    texts = [
        *WRITTEN_REFUSALS,
        *(o + ANSWER for o in DISCLAIMER_OPENINGS),
        "Sure! Here is a poem about the sea.",
        "I'm unable to share that, but a pharmacist can help.",
        "Here is how." + " x" * REFUSAL_WINDOW + " I won't say more.",
    ]
    judge = [s.label for s in refusal_keyword_judge().score([JudgeInput("q", t) for t in texts])]
    redteam = refusal_marker_judge(["q"] * len(texts), texts)
    helpfulness = [score == 0.0 for score in length_helpfulness(["q"] * len(texts), texts)]
    generated = [
        label_item({"split": "train", "kind": "answer", "prompt": "q", "prefix": "", "response": t})
        .responses[0]
        .refusal
        for t in texts
    ]
    expected = [is_refusal(t) for t in texts]
    assert judge == redteam == helpfulness == generated == expected
    assert expected.count(True) == len(WRITTEN_REFUSALS) + 1
