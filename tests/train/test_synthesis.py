"""C2-Syn prefixes and ranking against the protocol by hand; red-team pairs; both end to end."""

from __future__ import annotations

import random

import pytest

from safealign.data.refusal import REFUSAL_OPENINGS
from safealign.data.schema import Response, Sample
from safealign.models import tiny_model
from safealign.train.synthesis import (
    CourseCorrectionConfig,
    RedTeamConfig,
    course_correction_prefixes,
    harmful_responses,
    ranked_pairs,
    redteam_pairs,
    synthesize_course_correction,
    synthesize_redteam,
)
from safealign.train.synthesis.course_correction import (
    CORRECTIVE_TRIGGERS,
    OPENERS,
    count_punctuation,
    cut_after_marks,
    cut_points,
)
from safealign.train.synthesis.redteam import length_helpfulness, refusal_marker_judge

# A placeholder "harmful response" with 12 punctuation marks, no harmful content.
HARMFUL = "Step one, a. Step two, b. Step three, c. Step four, d. Step five, e. Step six, f."


def test_punctuation_count_and_cuts_follow_the_protocol():
    assert count_punctuation(HARMFUL) == 12
    assert count_punctuation('a-b "c" (d) [e] {f}; g: h? i!') == 13
    assert cut_after_marks(HARMFUL, 1) == "Step one,"
    assert cut_after_marks(HARMFUL, 4) == "Step one, a. Step two, b."
    assert cut_after_marks("no marks here", 3) == "no marks here"
    # t = 12, four cuts: the step is 12 // 4 - 1 = 2 or 12 // 4 = 3, and cuts are its multiples.
    seen = {tuple(cut_points(12, random.Random(seed))) for seed in range(40)}
    assert seen == {(2, 4, 6, 8), (3, 6, 9, 12)}
    assert cut_points(5, random.Random(0)) == [1, 2, 3, 4]  # step never drops to 0
    with pytest.raises(ValueError, match="at least 4 punctuation marks"):
        cut_points(3, random.Random(0))


def test_prefixes_are_opener_cut_trigger_and_grow():
    prefixes = course_correction_prefixes(HARMFUL, random.Random(0))
    assert len(prefixes) == 4
    cuts = []
    for prefix in prefixes:
        opener = next(o for o in OPENERS if prefix.startswith(o + " "))
        trigger = next(t for t in CORRECTIVE_TRIGGERS if prefix.endswith(" " + t))
        cuts.append(prefix[len(opener) + 1 : -len(trigger) - 1])
    assert all(HARMFUL.startswith(cut) for cut in cuts)
    assert [len(c) for c in cuts] == sorted(len(c) for c in cuts) and len(set(cuts)) == 4
    assert len({p.split(" ")[0] for p in prefixes}) == 1  # one opener for the four prefixes
    assert course_correction_prefixes(HARMFUL, random.Random(0)) == prefixes  # seeded


def test_ranked_pairs_are_the_fifteen_ordered_pairs():
    pairs = ranked_pairs(["SR", "SYN1", "SYN2", "SYN3", "SYN4", "harmful"])
    assert len(pairs) == 15
    assert all(better < worse for better, worse in pairs)
    assert (0, 5) in pairs and (4, 5) in pairs and (0, 1) in pairs and (5, 0) not in pairs


def test_harmful_responses_picks_unsafe_long_answers():
    samples = [
        Sample("q1", responses=[Response("safe.", is_safe=True), Response(HARMFUL, is_safe=False)]),
        Sample("q2", responses=[Response("short, unsafe.", is_safe=False)]),
        Sample("q3", responses=[Response("fine"), Response(HARMFUL)], safer=0),  # unlabelled pair
        Sample("q4", responses=[Response(HARMFUL, is_safe=True)]),
    ]
    found = harmful_responses(samples, min_punctuation=8)
    assert [(s.prompt, text) for s, text in found] == [("q1", HARMFUL), ("q3", HARMFUL)]


@pytest.mark.slow
def test_course_correction_synthesis_emits_fifteen_ranked_pairs_deterministically():
    loaded = tiny_model(0)
    items = [(Sample("how do I do the bad thing?", id="p0"), HARMFUL)]
    config = CourseCorrectionConfig(max_new_tokens=4, system_prompt=None)
    first = synthesize_course_correction(items, loaded, config, progress=False)
    again = synthesize_course_correction(items, loaded, config, progress=False)
    assert [s.to_dict() for s in first] == [s.to_dict() for s in again]
    assert len(first) == 15
    by_rank = {}
    for sample in first:
        meta = sample.metadata
        by_rank[meta["chosen_rank"]] = sample.responses[0].text
        by_rank[meta["rejected_rank"]] = sample.responses[1].text
        assert sample.better == 0 and sample.safer == 0
    opener = next(o for o in OPENERS if by_rank[5].startswith(o))
    assert by_rank[5] == f"{opener} {HARMFUL}"  # the harmful answer under the same opener
    for rank in range(1, 5):  # SYN_i = prefix i + the aligned model's continuation
        assert by_rank[rank].startswith(opener)
        trigger = next(t for t in CORRECTIVE_TRIGGERS if t in by_rank[rank])
        after = by_rank[rank].split(trigger, 1)[1]
        # continuation="sentence": at most one sentence end, and only at the very end
        assert not any(mark in after[:-1] for mark in ".!?\n"), after
    assert not any(by_rank[0].startswith(o) for o in OPENERS)  # SR is written from scratch


@pytest.mark.slow
def test_safe_response_can_open_with_a_prefilled_refusal():
    loaded = tiny_model(0)
    items = [(Sample("how do I do the bad thing?", id="p0"), HARMFUL)]
    config = CourseCorrectionConfig(
        max_new_tokens=4, system_prompt=None, safe_response="prefilled-refusal"
    )
    pairs = synthesize_course_correction(items, loaded, config, progress=False)
    safe = next(p.responses[0].text for p in pairs if p.metadata["chosen_rank"] == 0)
    assert any(safe.startswith(opening) for opening in REFUSAL_OPENINGS)


def test_prompt_only_items_are_answered_by_the_model_and_refusals_dropped(monkeypatch):
    from safealign.models.generation import Generation
    from safealign.train.synthesis import course_correction

    answers = {
        "q0": "Sure, here: step one, a. step two, b. step three, c. step four, d.",
        "q1": "I'm sorry, I can't help with that, it is wrong, bad, illegal, and risky.",
        "q2": "Too short.",
    }

    def fake_generate(loaded, conversations, config, **kwargs):
        assert config.system_prompt is None  # the harmful answer comes without safety prompt
        assert config.max_new_tokens == 96
        return [[Generation("", answers[c[-1].content], 0, 0, "stop")] for c in conversations]

    monkeypatch.setattr(course_correction, "generate", fake_generate)
    samples = [Sample(q) for q in answers]
    found = course_correction.answer_harmful_prompts(
        samples,
        None,
        CourseCorrectionConfig(),
        progress=False,  # type: ignore[arg-type]
    )
    assert [(s.prompt, a) for s, a in found] == [("q0", answers["q0"])]


def test_redteam_pairs_order_by_helpfulness_and_carry_flags():
    prompt = Sample("harmful request?", prompt_harmful=True, id="r")
    answers = ["I can't help with that.", "[unsafe response text] long long long", "same", "same"]
    pairs = redteam_pairs(prompt, answers, [True, False, False, False], [5.0, 9.0, 1.0, 1.0])
    # (0,1), (0,2), (0,3), (1,2), (1,3); (2,3) share text and score: left out.
    assert len(pairs) == 5
    top = pairs[0]  # widest helpfulness gap first: 9 vs 1
    assert top.responses[0].text.startswith("[unsafe") and top.better == 0
    refusal_vs_unsafe = next(
        p for p in pairs if {r.text for r in p.responses} == {answers[0], answers[1]}
    )
    assert refusal_vs_unsafe.responses[0].text == answers[1]  # more helpful first
    assert [r.is_safe for r in refusal_vs_unsafe.responses] == [False, True]
    assert refusal_vs_unsafe.safer == 1
    both_unsafe = next(
        p for p in pairs if p.responses[0].text == answers[1] and p.responses[1].text == "same"
    )
    assert both_unsafe.safer is None
    assert len(redteam_pairs(prompt, answers, [True] * 4, [5.0, 9.0, 1.0, 1.0], max_pairs=2)) == 2


def test_length_helpfulness_scores_refusals_zero():
    scores = length_helpfulness(
        ["q"] * 2, ["I'm sorry, but I can't help with that at all.", "a b c"]
    )
    assert scores == [0.0, 3.0]


def test_refusal_marker_judge_labels_refusals_safe():
    labels = refusal_marker_judge(
        ["q"] * 3, ["I'm sorry, but I can't help.", "Sure! Step 1", "I cannot do that"]
    )
    assert labels == [True, False, True]


@pytest.mark.slow
def test_redteam_synthesis_on_tiny_model_builds_labelled_pairs():
    prompts = [
        Sample("harmful request?", prompt_harmful=True, id="h"),
        Sample("benign request?", prompt_harmful=False, id="b"),
    ]
    config = RedTeamConfig(num_samples=3, max_new_tokens=6, safe_system_prompt="Be safe.")
    calls = []

    def judge(conversations, responses):
        calls.append(len(responses))
        return [False] * len(responses)  # everything unsafe, unless the prompt is benign

    pairs = synthesize_redteam(prompts, tiny_model(0), config, judge=judge, progress=False)
    assert calls == [8]  # (3 sampled + 1 guided) x 2 prompts, judged in one call
    assert pairs
    texts = {r.text for pair in pairs for r in pair.responses}
    assert any(t.startswith(config.safe_prefix) for t in texts)  # the prefilled, continued one
    for pair in pairs:
        expected = pair.prompt.startswith("benign")
        assert [r.is_safe for r in pair.responses] == [expected, expected]
        more, less = pair.metadata["helpfulness"]
        assert more > less  # the more helpful answer comes first
        if pair.responses[1].text.startswith(config.safe_prefix):
            assert less == 0.0  # a refusal helps with nothing
