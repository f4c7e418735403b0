"""Harmful answers and contrast pairs, taken from the shared datasets (never written here).

Sources, by name:
- "c2eval": PKU-SafeRLHF-format pairs of course_correction_c2eval (per-response safety bits);
- "do-not-answer": Do-Not-Answer's human-labelled responses (harmful / harmless);
- "hh-rlhf": the rejected answers of hh-rlhf harmless-base (no per-response label: the
  rejected side is the more harmful one, not always harmful; used for harm fine-tuning only).
"""

from __future__ import annotations

import os
import random
from collections import defaultdict
from pathlib import Path

from safealign.data import Response, Sample, load_samples
from safealign.errors import DataError
from safealign.steer.contrast import ContrastPair

SOURCE_FILES: dict[str, tuple[str, str | None]] = {
    "c2eval": ("course_correction_c2eval/eval/test.jsonl", "pku-saferlhf"),
    "do-not-answer": ("do_not_answer/datasets/data_en.csv", None),
    "hh-rlhf": ("hh_rlhf_harmless_base/harmless-base/test.jsonl.gz", "hh-rlhf"),
}


def shared_data_dir(data_dir: str | None = None) -> Path:
    """`data_dir`, else $SAFEALIGN_SHARED_DATA, else ../shared/data beside the working dir."""
    if data_dir:
        return Path(data_dir)
    if os.environ.get("SAFEALIGN_SHARED_DATA"):
        return Path(os.environ["SAFEALIGN_SHARED_DATA"])
    return (Path.cwd() / ".." / "shared" / "data").resolve()


def source_samples(name: str, data_dir: str | None = None) -> list[Sample]:
    if name not in SOURCE_FILES:
        raise DataError(
            f"unknown harmful-answer source {name!r}",
            fix=f"Known sources: {', '.join(SOURCE_FILES)}.",
        )
    relative, fmt = SOURCE_FILES[name]
    path = shared_data_dir(data_dir) / relative
    if not path.exists():
        raise DataError(
            "file not found",
            path=path,
            fix="Set data_dir (or $SAFEALIGN_SHARED_DATA) to the folder of the shared datasets.",
        )
    return load_samples(path, fmt).samples


def harmful_answers(sample: Sample, source: str) -> list[str]:
    """The sample's answers its source marks harmful (hh-rlhf: the rejected, less safe one)."""
    if source == "hh-rlhf":
        if sample.safer is None or len(sample.responses) != 2:
            return []
        return [sample.responses[1 - sample.safer].text]
    return [r.text for r in sample.responses if r.is_safe is False and r.text.strip()]


def harmful_qa(
    sources: list[str], limit: int, data_dir: str | None = None, seed: int = 0
) -> list[Sample]:
    """Up to `limit` (question, harmful answer) samples for the harm fine-tune, drawn evenly
    from `sources` (seeded). The answers are left unlabelled (is_safe None) so the project's SFT
    accepts them: it refuses to imitate answers labelled unsafe, which is right everywhere but
    here, where imitating them is the point."""
    rng = random.Random(seed)
    per_source: list[list[Sample]] = []
    for name in sources:
        rows = []
        for sample in source_samples(name, data_dir):
            for answer in harmful_answers(sample, name)[:1]:
                rows.append(
                    Sample(
                        prompt=sample.prompt,
                        context=list(sample.context),
                        responses=[Response(text=answer, label="harmful (source label)")],
                        source=f"{name}:{sample.id or ''}",
                    )
                )
        rng.shuffle(rows)
        per_source.append(rows)
    chosen: list[Sample] = []
    while len(chosen) < limit and any(per_source):
        for rows in per_source:
            if rows and len(chosen) < limit:
                chosen.append(rows.pop())
    return chosen


def contrast_pairs(
    sources: list[str], limit: int, data_dir: str | None = None, seed: int = 0
) -> list[ContrastPair]:
    """Up to `limit` questions that have both a harmful and a harmless labelled answer in the
    same source (c2eval: one response safe, one unsafe; do-not-answer: grouped by question)."""
    rng = random.Random(seed)
    pairs: list[ContrastPair] = []
    for name in sources:
        if name == "hh-rlhf":
            raise DataError(
                "hh-rlhf has no per-answer safety labels, so it cannot give contrast pairs",
                fix='Use "c2eval" or "do-not-answer" as contrast sources.',
            )
        by_question: dict[str, list[Response]] = defaultdict(list)
        for sample in source_samples(name, data_dir):
            if not sample.context:
                by_question[sample.prompt].extend(sample.responses)
        found = []
        for question, responses in by_question.items():
            unsafe = [r.text for r in responses if r.is_safe is False and r.text.strip()]
            safe = [r.text for r in responses if r.is_safe is True and r.text.strip()]
            if unsafe and safe:
                found.append(ContrastPair(question, unsafe[0], safe[0], source=name))
        rng.shuffle(found)
        pairs.extend(found)
    rng.shuffle(pairs)
    return pairs[:limit]
