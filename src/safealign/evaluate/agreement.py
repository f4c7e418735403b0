"""How well judges agree with human labels, and with each other.

`judge_agreement` scores labelled responses (by default XSTest's 2,250 human-labelled
completions: full or partial refusal = refusal) with each judge and reports accuracy, Cohen's
kappa and F1 of the positive class. `label_with_jury` labels any response file with a jury and
reports per-judge votes and inter-judge agreement (Fleiss' kappa, pairwise Cohen's kappa).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

from safealign.data import load_samples
from safealign.data.catalog import dataset_path
from safealign.data.schema import Sample
from safealign.errors import ConfigError, DataError
from safealign.evaluate.judges import JudgeInput, JuryJudge, build_judge
from safealign.evaluate.stats import agreement, fleiss_kappa
from safealign.io import write_json_atomic, write_jsonl_atomic


@dataclass
class JudgeAgreementConfig:
    """Settings of `safealign eval judge-agreement` (YAML section `judge_agreement`)."""

    judges: list[str] = field(
        default_factory=lambda: ["refusal-keyword", "refusal-model"],
        metadata={"help": "Refusal judge to compare with the human labels (repeatable)."},
    )
    data_dir: str | None = field(
        default=None,
        metadata={
            "help": "Folder of the shared datasets; default $SAFEALIGN_SHARED_DATA or "
            "../shared/data."
        },
    )


def xstest_completions(data_dir: str | Path) -> list[Sample]:
    """The five XSTest completion files (450 prompts x 5 models, human refusal labels): the
    catalogue's "xstest-responses" folder, every row as the xstest format reads it."""
    folder = dataset_path("xstest-responses", data_dir)
    files = sorted(folder.glob("*.csv"))
    if not files:
        raise DataError("no XSTest completion files", path=folder, fix="Pass --data-dir.")
    return [s for f in files for s in load_samples(f, "xstest").samples]


def judge_agreement(
    judges: Sequence[str], samples: Sequence[Sample], *, question: str = "refusal"
) -> dict[str, dict[str, Any]]:
    """Agreement of each judge with the samples' own response labels (refusal or harm)."""
    inputs, reference = _labelled_inputs(samples, question)
    results = {}
    for name in judges:
        judge = build_judge(name)
        if judge.question != question:
            raise ConfigError(f"judge {judge.name} answers {judge.question}, not {question}")
        predicted = [s.label for s in judge.score(inputs)]
        results[judge.name] = agreement(predicted, reference).to_dict()
    return results


def label_with_jury(samples: Sequence[Sample], jury: str, out: str | Path) -> dict[str, Any]:
    """Label every response with a jury; write labels + votes (JSONL) and agreement (JSON)."""
    judge = build_judge(jury if jury.startswith("jury:") else f"jury:{jury}")
    if not isinstance(judge, JuryJudge):
        raise ConfigError("label needs a jury of at least two judges: --jury a,b,c")
    inputs, where = [], []
    for sample in samples:
        for index, response in enumerate(sample.responses):
            inputs.append(JudgeInput(sample.conversation, response.text))
            where.append((sample, index))
    if not inputs:
        raise DataError("no responses to label: the data holds prompts only")
    scores = judge.score(inputs)
    members = [m.name for m in judge.members]
    rows = [
        {
            "id": sample.id,
            "prompt": sample.prompt,
            "response_index": index,
            "response": sample.responses[index].text,
            "question": judge.question,
            "label": score.label,
            "probability": score.probability,
            "votes": score.votes,
        }
        for (sample, index), score in zip(where, scores, strict=True)
    ]
    votes = [[s.votes.get(m) for m in members] for s in scores]
    pairwise = {}
    for a, b in combinations(range(len(members)), 2):
        try:
            pairwise[f"{members[a]} vs {members[b]}"] = agreement(
                [v[a] for v in votes], [v[b] for v in votes]
            ).cohen_kappa
        except ValueError:
            pairwise[f"{members[a]} vs {members[b]}"] = None
    with_majority = {}
    for i, member in enumerate(members):
        try:
            with_majority[member] = asdict(
                agreement([v[i] for v in votes], [s.label for s in scores])
            )
        except ValueError:
            with_majority[member] = None
    summary = {
        "jury": judge.name,
        "question": judge.question,
        "responses": len(rows),
        "positive_share": sum(bool(r["label"]) for r in rows) / len(rows),
        "undecided": sum(r["label"] is None for r in rows),
        "fleiss_kappa": fleiss_kappa(votes),
        "pairwise_cohen_kappa": pairwise,
        "agreement_with_majority": with_majority,
    }
    out = Path(out)
    write_jsonl_atomic(out, rows)
    write_json_atomic(out.with_name(out.stem + ".agreement.json"), summary)
    return summary


def _labelled_inputs(
    samples: Sequence[Sample], question: str
) -> tuple[list[JudgeInput], list[bool | None]]:
    inputs, reference = [], []
    for sample in samples:
        for response in sample.responses:
            label = (
                response.refusal
                if question == "refusal"
                else (None if response.is_safe is None else not response.is_safe)
            )
            if label is None:
                continue
            inputs.append(JudgeInput(sample.conversation, response.text))
            reference.append(label)
    if not inputs:
        raise DataError(f"no response carries a {question} label to compare against")
    return inputs, reference
