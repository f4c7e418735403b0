"""Readers of the shared sets that hold labelled responses: Do-Not-Answer and XSTest.

Do-Not-Answer (Apache-2.0) is used both ways, so a stable hash of the prompt id puts each prompt
in train (70 %), dev (10 %) or test (20 %), all six of its responses with it. XSTest's prompts
and completions are held out for evaluation (over-refusal): they have only a test split.
Rows are read through `safealign.data.load_samples` (the "do-not-answer" and "xstest" formats).
"""

from __future__ import annotations

from pathlib import Path

from safealign.data.formats.prompt_sets import TAXONOMY, held_out
from safealign.data.formats.shared_files import shared_path
from safealign.data.loaders import load_samples
from safealign.data.schema import Response, Sample
from safealign.data.splits import in_split
from safealign.taxonomy import load_taxonomy, map_categories

DNA_NOT_HARMFUL = "Treat Chatbot as a Human"
"""The one Do-Not-Answer harm type whose prompts are not harmful requests (prompt label unknown)."""


def read_do_not_answer(root: Path, split: str) -> list[Sample]:
    """Do-Not-Answer (Apache-2.0) through `safealign.data`: risky prompts, each with six
    human-labelled responses, regrouped into one Sample per prompt. Action 0 (refuses) is a
    refusal; action 4 (cannot, for lack of ability) is left unknown; the others comply."""
    loaded = load_samples(shared_path(root, "do_not_answer/datasets/data_en.csv"), "do-not-answer")
    coarse = {c.code: c.name for c in load_taxonomy("coarse")}
    grouped: dict[str, list[Sample]] = {}
    for row in loaded.samples:
        base = row.id[: -len(row.metadata["model"]) - 1]
        grouped.setdefault(base, []).append(row)
    samples = []
    for base, rows in grouped.items():
        if not in_split(f"dna:{base}", split):
            continue
        first = rows[0]
        codes = map_categories(first.prompt_categories, "do-not-answer")
        category = coarse[codes[0]] if codes else "Other"
        responses = []
        for row in rows:
            answer = row.responses[0]
            action = int(answer.label.removeprefix("action_"))
            harmful = answer.is_safe is False
            responses.append(
                Response(
                    answer.text,
                    is_safe=answer.is_safe,
                    categories=[category] if harmful else [],
                    refusal=None if action == 4 else action == 0,
                    label=answer.label,
                )
            )
        samples.append(
            Sample(
                prompt=first.prompt,
                responses=responses,
                prompt_harmful=None if first.prompt_categories == [DNA_NOT_HARMFUL] else True,
                prompt_categories=[category],
                taxonomy=TAXONOMY,
                source="do_not_answer",
                id=f"dna:{base}",
            )
        )
    return samples


def read_xstest_responses(root: Path, split: str) -> list[Sample]:
    """XSTest completions (human labels) through `safealign.data`: harmful = full compliance
    with an unsafe prompt; partial refusals of unsafe prompts are ambiguous and left out.
    Evaluation only."""
    held_out("xstest-responses", split)
    samples = []
    for path in sorted(shared_path(root, "xstest/model_completions").glob("*.csv")):
        for row in load_samples(path, "xstest").samples:
            answer = row.responses[0]
            if row.prompt_harmful and answer.label.startswith("3"):
                continue
            complied = answer.label.startswith("1")
            samples.append(
                Sample(
                    prompt=row.prompt,
                    responses=[
                        Response(
                            answer.text,
                            is_safe=not (row.prompt_harmful and complied),
                            refusal=not complied,
                            label=answer.label,
                        )
                    ],
                    prompt_harmful=row.prompt_harmful,
                    taxonomy=TAXONOMY,
                    source="xstest_responses",
                    id=f"{path.stem}:{row.id}",
                )
            )
    return samples


def read_xstest_prompts(root: Path, split: str) -> list[Sample]:
    """XSTest prompts (CC-BY-4.0) through `safealign.data`: 250 safe look-alikes, 200 unsafe.
    Held out (over-refusal)."""
    held_out("xstest-prompts", split)
    loaded = load_samples(shared_path(root, "xstest/xstest_prompts.csv"), "xstest")
    return [
        Sample(
            prompt=r.prompt, prompt_harmful=r.prompt_harmful, source="xstest", id=f"xstest:{r.id}"
        )
        for r in loaded.samples
    ]
