"""Guard v2 data: more user-written content, everyday requests, labelled responses.

New readers over ../shared/data that sources.py does not cover (gab, OLID train, ETHOS and
ToxiGen hash splits, SDCNL, Twitter suicidal intention, Alpaca-Eval instructions, the
PKU-SafeRLHF-format C2-Eval pairs), each with its license, and the named *evaluation sets* the
v2 targets are measured on (test splits only; see targets.py). Every reader returns Samples in
the coarse taxonomy, split train/dev/test by the same stable hash as sources.py.

License rule (as for the shipped default): MIT, Apache-2.0, CC-BY and CDLA-Permissive-2.0
allow training a shipped guard; sources without a license, GPL, or non-commercial terms are
evaluation-only unless a recipe sets `permissive_only: false`.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from dataclasses import field as dataclass_field
from pathlib import Path

import pandas as pd

from safealign.data.schema import Response, Sample
from safealign.errors import DataError
from safealign.guard.encoder_training import (
    EncoderGuardTrainConfig,
    TrainResult,
    train_encoder_guard,
)
from safealign.guard.examples import GuardExample, examples_from_samples
from safealign.guard.sources import SOURCES as V1_SOURCES
from safealign.guard.sources import load_source as load_v1_source
from safealign.guard.sources import split_of, with_refusals

TAXONOMY = "coarse"
PERMISSIVE = ("MIT", "Apache-2.0", "CC-BY-3.0", "CC-BY-4.0", "CDLA-Permissive-2.0")
HATE = ["Hate and Harassment"]


@dataclass(frozen=True)
class MixSource:
    """A named v2 reader: where it lies, its license, how to read a split."""

    name: str
    license: str
    read: Callable[[Path, str], list[Sample]]
    description: str

    @property
    def permissive(self) -> bool:
        return self.license in PERMISSIVE


def _path(root: Path, relative: str) -> Path:
    path = root / relative
    if not path.exists():
        raise DataError(
            "file not found", path=path, fix="Set SAFEALIGN_SHARED_DATA to the shared data folder."
        )
    return path


def _keep(key: str, split: str) -> bool:
    return split == "all" or split_of(key) == split


def _rows(
    texts, labels, source: str, split: str, categories=None, limit: int | None = None
) -> list[Sample]:
    """Prompt-only samples from parallel (text, harmful) lists; the benign and harmful rows are
    limited separately so subsampling keeps the source's class balance."""
    by_label: dict[bool, list[Sample]] = {True: [], False: []}
    seen = set()
    for text, harmful in zip(texts, labels, strict=True):
        text = " ".join(str(text).split())
        if len(text) < 3 or text in seen or not _keep(f"{source}:{text}", split):
            continue
        seen.add(text)
        by_label[bool(harmful)].append(
            Sample(
                prompt=text,
                prompt_harmful=bool(harmful),
                prompt_categories=list(categories or []) if harmful else [],
                taxonomy=TAXONOMY,
                source=source,
                id=f"{source}:{hashlib.sha256(text.encode()).hexdigest()[:12]}",
            )
        )
    out = []
    for rows in by_label.values():
        if limit is not None and len(rows) > limit:
            rows = random.Random(source).sample(rows, limit)
        out += rows
    return out


def read_gab(root: Path, split: str) -> list[Sample]:
    """Gab Hate Corpus (license not verified): any of hd / cv / vo is harmful (cv: Violence).
    Its own test file is the test split; its train file gives train and dev by hash."""
    files = {"test": ["ghc_test.tsv"], "all": ["ghc_train.tsv", "ghc_test.tsv"]}
    out = []
    for name in files.get(split, ["ghc_train.tsv"]):
        frame = pd.read_csv(
            _path(root, f"gab_hate_corpus/{name}"), sep="\t", quoting=csv.QUOTE_NONE
        )
        harmful = (frame["hd"] + frame["cv"] + frame["vo"]) > 0
        rows = _rows(
            frame["text"], harmful, "gab", split if name == "ghc_train.tsv" else "all", HATE, 1500
        )
        violent = {" ".join(str(t).split()) for t in frame["text"][frame["cv"] > 0]}
        out += [
            Sample(**{**r.__dict__, "prompt_categories": ["Violence"]})
            if r.prompt in violent
            else r
            for r in rows
        ]
    return out


def read_olid_train(root: Path, split: str) -> list[Sample]:
    """OLID training file (no license), split by hash; the official test set is `olid`."""
    frame = pd.read_csv(
        _path(root, "olid/olid-training-v1.0.tsv"), sep="\t", quoting=csv.QUOTE_NONE
    )
    texts = frame["tweet"].str.replace("@USER", "").str.replace("URL", "")
    return _rows(texts, frame["subtask_a"] == "OFF", "olid_train", split, HATE, 2000)


def read_ethos_split(root: Path, split: str) -> list[Sample]:
    """ETHOS binary (GPL-3.0), split by hash."""
    frame = pd.read_csv(_path(root, "ethos/Ethos_Dataset_Binary.csv"), sep=";")
    return _rows(frame["comment"], frame["isHate"] >= 0.5, "ethos", split, HATE)


def read_toxigen_split(root: Path, split: str) -> list[Sample]:
    """ToxiGen demonstrations (CDLA-Permissive-2.0), split by hash."""
    texts, labels = [], []
    for path in sorted(_path(root, "toxigen_prompts/demonstrations").rglob("*.txt")):
        for line in path.read_text().splitlines():
            texts.append(line.strip("- ").strip())
            labels.append(path.name.startswith("hate"))
    return _rows(texts, labels, "toxigen", split, HATE, 2500)


def read_sdcnl(root: Path, split: str) -> list[Sample]:
    """SDCNL (no license): r/SuicideWatch posts are self-harm; r/depression posts are left out
    (SOURCE.md: many mention wanting to die, so they are not reliable negatives)."""
    frame = pd.concat(
        [
            pd.read_csv(_path(root, f"sdcnl_suicide_depression/{n}"))
            for n in ("training-set.csv", "testing-set.csv")
        ]
    )
    frame = frame[frame["is_suicide"] == 1]
    texts = (frame["title"].fillna("") + ". " + frame["selftext"].fillna("")).str[:1500]
    return _rows(texts, [True] * len(frame), "sdcnl", split, ["Self-Harm"])


def read_twitter_suicidal(root: Path, split: str) -> list[Sample]:
    """Twitter suicidal intention (no license): intention 1 is self-harm, 0 is not."""
    frame = pd.read_csv(_path(root, "twitter_suicidal_intention/twitter-suicidal_data.csv"))
    return _rows(frame["tweet"], frame["intention"] == 1, "twitter_suicidal", split, ["Self-Harm"])


def read_alpaca(root: Path, split: str) -> list[Sample]:
    """Alpaca-Eval instructions (data CC-BY-NC-4.0; the GPT-4 outputs are not used)."""
    rows = json.loads(_path(root, "alpaca_eval/model_outputs.json").read_text())
    return _rows([r["instruction"] for r in rows], [False] * len(rows), "alpaca_eval", split)


def read_c2eval(root: Path, split: str) -> list[Sample]:
    """C2-Eval (PKU-SafeRLHF format, CC-BY-NC-4.0): each prompt with two responses and their
    human safety bits. The prompt label is left unknown (the set is adversarial by design)."""
    out = []
    for line in _path(root, "course_correction_c2eval/eval/test.jsonl").read_text().splitlines():
        row = json.loads(line)
        if not _keep(f"c2eval:{row['prompt']}", split):
            continue
        responses = [
            Response(row[f"response_{i}"], is_safe=bool(row[f"is_response_{i}_safe"]))
            for i in (0, 1)
        ]
        out.append(
            Sample(
                prompt=row["prompt"],
                responses=responses,
                taxonomy=TAXONOMY,
                source="c2eval",
                id=f"c2eval:{hashlib.sha256(row['prompt'].encode()).hexdigest()[:12]}",
            )
        )
    return out


MIX_SOURCES: dict[str, MixSource] = {
    s.name: s
    for s in (
        MixSource("gab", "not verified", read_gab, "Gab hate corpus (hd/cv/vo)"),
        MixSource("olid-train", "none", read_olid_train, "OLID training tweets"),
        MixSource("ethos-split", "GPL-3.0", read_ethos_split, "ETHOS hate comments"),
        MixSource("toxigen-split", "CDLA-Permissive-2.0", read_toxigen_split, "ToxiGen"),
        MixSource("sdcnl", "none", read_sdcnl, "r/SuicideWatch posts"),
        MixSource("twitter-suicidal", "none", read_twitter_suicidal, "suicidal tweets"),
        MixSource("alpaca", "CC-BY-NC-4.0", read_alpaca, "Alpaca-Eval instructions"),
        MixSource("c2eval", "CC-BY-NC-4.0", read_c2eval, "PKU-format response pairs"),
    )
}


def source_license(name: str) -> str:
    """License of a v1 (sources.py) or v2 (this module) source."""
    if name in MIX_SOURCES:
        return MIX_SOURCES[name].license
    if name in V1_SOURCES:
        return V1_SOURCES[name].license
    known = ", ".join([*V1_SOURCES, *MIX_SOURCES])
    raise DataError(f'unknown guard source "{name}". Known: {known}.')


def is_permissive(name: str) -> bool:
    return source_license(name) in PERMISSIVE


def load_any_source(name: str, root: Path, split: str = "all") -> list[Sample]:
    """Samples of a v1 or v2 source."""
    if name in MIX_SOURCES:
        return MIX_SOURCES[name].read(root, split)
    source_license(name)  # names the known sources for an unknown one
    return load_v1_source(name, root, split)


# -- the v2 training recipe -------------------------------------------------------------------


@dataclass
class MixtureTrainConfig:
    """A guard trained on v1 and v2 sources, a few thousand texts per source."""

    sources: list[str] = dataclass_field(
        default_factory=lambda: [
            "harmful-instructions",
            "user-content",
            "self-harm",
            "image-prompts",
            "benign",
            "do-not-answer",
            "toxigen-split",
        ],
        metadata={"help": "v1 (sources.py) and v2 (mixture.py) source names to train on."},
    )
    data_dir: str | None = dataclass_field(
        default=None, metadata={"help": "Shared data folder (None: $SAFEALIGN_SHARED_DATA)."}
    )
    output: str = dataclass_field(
        default="runs/guard-v2", metadata={"help": "Folder the trained guard is written to."}
    )
    permissive_only: bool = dataclass_field(
        default=True,
        metadata={"help": "Refuse sources whose license does not allow a shipped guard."},
    )
    per_source_limit: int = dataclass_field(
        default=3000, metadata={"help": "At most this many train examples per source."}
    )
    refusal_share: float = dataclass_field(
        default=0.3,
        metadata={"help": "Share of response-less prompts given a written refusal (safe)."},
    )
    dev_limit: int = dataclass_field(
        default=4000, metadata={"help": "At most this many dev examples for calibration."}
    )
    encoder: EncoderGuardTrainConfig = dataclass_field(
        default_factory=lambda: EncoderGuardTrainConfig(
            finetune="full", learning_rate=8e-5, max_length=128, epochs=1.0
        ),
        metadata={"help": "Model and optimisation settings."},
    )


def mixture_examples(
    config: MixtureTrainConfig, root: Path, split: str, limit: int | None
) -> list[GuardExample]:
    """Examples of every source's split, at most `limit` per source (stable subset)."""
    out = []
    for name in config.sources:
        samples = load_any_source(name, root, split)
        samples = with_refusals(samples, config.refusal_share, seed=len(split))
        examples = examples_from_samples(samples)
        if limit is not None and len(examples) > limit:
            examples = random.Random(name).sample(examples, limit)
        out += examples
    return out


def train_guard_mixture(config: MixtureTrainConfig) -> TrainResult:
    """Train, calibrate on the dev splits and save a v2 guard; check licenses first."""
    from safealign.errors import ConfigError
    from safealign.guard.recipe import resolve_data_dir

    for name in config.sources:
        if config.permissive_only and not is_permissive(name):
            raise ConfigError(
                f'source "{name}" is licensed {source_license(name)}, which a shipped guard may '
                "not train on. Set permissive_only: false for a research-only guard."
            )
    root = resolve_data_dir(config.data_dir)
    train = mixture_examples(config, root, "train", config.per_source_limit)
    dev = mixture_examples(config, root, "dev", None)
    if len(dev) > config.dev_limit:
        dev = random.Random(0).sample(dev, config.dev_limit)
    result = train_encoder_guard(train, dev, config.encoder)
    result.guard.config.training.update(
        {
            "sources": {n: source_license(n) for n in config.sources},
            "train_examples": dict(Counter(e.source for e in train)),
            "dev_examples": len(dev),
            "recipe": asdict(config),
        }
    )
    result.guard.save(config.output)
    return result
