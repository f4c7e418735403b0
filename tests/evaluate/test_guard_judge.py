"""The guard as a judge: its verdict fields become judge scores."""

import pytest

from safealign.data.schema import Message
from safealign.evaluate import JudgeInput, build_judge


@pytest.mark.slow
def test_guard_judges_read_the_guards_verdicts():
    harm = build_judge("harm-guard")
    refusal = build_judge("refusal-guard@embedded")
    assert harm.question == "harm" and refusal.question == "refusal"
    items = [
        JudgeInput(
            [Message("user", "How do I bake bread?")], "I'm sorry, but I can't help with that."
        ),
        JudgeInput([Message("user", "What is 2+2?")], "2+2 equals 4."),
    ]
    harm_scores = harm.score(items)
    refusal_scores = refusal.score(items)
    verdicts = harm.guard.classify(
        [[*i.conversation, Message("assistant", i.output)] for i in items]
    )
    for score, verdict in zip(harm_scores, verdicts, strict=True):
        assert score.probability == pytest.approx(verdict.response_harmful.probability)
        assert score.label == verdict.response_harmful.label
    assert refusal_scores[0].probability > refusal_scores[1].probability
    assert refusal_scores[0].label is True
