"""Harmful answers and contrast pairs, taken from the shared datasets (never written here).

Sources, by name:
- "c2eval": PKU-SafeRLHF-format pairs of course_correction_c2eval (per-response safety bits);
- "do-not-answer": Do-Not-Answer's human-labelled responses (harmful / harmless);
- "hh-rlhf": the rejected answers of hh-rlhf harmless-base (no per-response label: the
  rejected side is the more harmful one, not always harmful; used for harm fine-tuning only).

Contrast pairs can also come from benign requests, where refusing is the failure (over-refusal):
- "alpaca-refusal": an Alpaca-Eval instruction with its helpful reference answer as the safe
  side and a Do-Not-Answer refusal (a response its annotators gave action 0, "cannot assist")
  as the unsafe side. Mixed with harmful pairs, the vector points towards refusing harmful
  requests and away from refusing benign ones.
"""

from __future__ import annotations

import csv
import json
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


BENIGN_FILES = {
    "alpaca": "alpaca_eval/model_outputs.json",
    "do-not-answer": "do_not_answer/datasets/data_en.csv",
}
DNA_REFUSAL_ACTION = "0"
"""Do-Not-Answer's action 0: the model says it cannot assist (a plain refusal)."""


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
    same source (c2eval: one response safe, one unsafe; do-not-answer: grouped by question);
    with "alpaca-refusal" among the sources, half of them are those benign pairs."""
    rng = random.Random(seed)
    pairs: list[ContrastPair] = []
    benign: list[ContrastPair] = []
    for name in sources:
        if name == "alpaca-refusal":
            benign = benign_refusal_pairs(data_dir, seed)
            continue
        if name == "hh-rlhf":
            raise DataError(
                "hh-rlhf has no per-answer safety labels, so it cannot give contrast pairs",
                fix='Use "c2eval", "do-not-answer" or "alpaca-refusal" as contrast sources.',
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
    if not benign:
        return pairs[:limit]
    # Half benign, half harmful (when both are asked for): benign pairs outnumber harmful ones
    # in the data, and their difference points the other way (away from refusing).
    rng.shuffle(benign)
    harmful_share = limit - limit // 2 if pairs else 0
    chosen = pairs[:harmful_share] + benign[: limit - min(harmful_share, len(pairs))]
    rng.shuffle(chosen)
    return chosen


def dna_refusals(data_dir: str | None = None) -> list[str]:
    """Every Do-Not-Answer response its annotators marked as a plain refusal (action 0)."""
    path = shared_data_dir(data_dir) / BENIGN_FILES["do-not-answer"]
    if not path.is_file():
        raise DataError("file not found", path=path, fix="Set data_dir to the shared data folder.")
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    refusals = []
    for column in rows[0] if rows else []:
        if column.endswith("_action"):
            model = column.removesuffix("_action")
            for row in rows:
                text = (row.get(f"{model}_response") or "").strip()
                if text and (row[column] or "").split(".")[0] == DNA_REFUSAL_ACTION:
                    refusals.append(text)
    return refusals


def benign_refusal_pairs(data_dir: str | None = None, seed: int = 0) -> list[ContrastPair]:
    """Benign requests where refusing is the unsafe answer: (Alpaca-Eval instruction, a
    Do-Not-Answer refusal drawn at random, the instruction's helpful reference answer)."""
    path = shared_data_dir(data_dir) / BENIGN_FILES["alpaca"]
    if not path.is_file():
        raise DataError("file not found", path=path, fix="Set data_dir to the shared data folder.")
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"not valid JSON ({exc.msg})", path=path, line=exc.lineno) from exc
    refusals = dna_refusals(data_dir)
    if not refusals:
        raise DataError("no refusals (action 0) found in Do-Not-Answer", path=path)
    rng = random.Random(seed)
    return [
        ContrastPair(row["instruction"], rng.choice(refusals), row["output"], "alpaca-refusal")
        for row in rows
        if row.get("instruction", "").strip() and row.get("output", "").strip()
    ]
