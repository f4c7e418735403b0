"""Readers of more user-written and everyday prompt sets (guard v2's training mixture).

Gab, OLID's training file, SDCNL, Twitter suicidal intention and Alpaca-Eval's instructions:
user-written posts labelled harmful or not, and everyday requests. Each reader returns
prompt-only Samples in the coarse taxonomy, split train/dev/test by the stable hash of
`safealign.data.splits`; the catalogue (`safealign.data.catalog`) records their licences (none
of them permissive, so the shipped default guard never trains on them) and refuses held-out
sets for training. ETHOS, ToxiGen, OLID's test file and C2-Eval stay held out there: they are
not re-read here with a train split.
"""

from __future__ import annotations

import csv
import hashlib
import random
from collections.abc import Iterable
from pathlib import Path

from safealign.data.formats.shared_files import read_frame, read_json, shared_path
from safealign.data.schema import Sample
from safealign.data.splits import in_split

TAXONOMY = "coarse"
HATE = ["Hate and Harassment"]


def labelled_prompts(
    texts: Iterable[object],
    labels: Iterable[object],
    source: str,
    split: str,
    categories: list[str] | None = None,
    limit: int | None = None,
) -> list[Sample]:
    """Prompt-only samples from parallel (text, harmful) lists; the benign and harmful rows are
    capped separately so that subsampling keeps the set's class balance."""
    by_label: dict[bool, list[Sample]] = {True: [], False: []}
    seen = set()
    for text, harmful in zip(texts, labels, strict=True):
        text = " ".join(str(text).split())
        if len(text) < 3 or text in seen or not in_split(f"{source}:{text}", split):
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
    """Gab Hate Corpus (licence not verified): any of hd / cv / vo is harmful (cv: Violence).
    Its own test file is the test split; its train file gives train and dev by hash."""
    files = {"test": ["ghc_test.tsv"], "all": ["ghc_train.tsv", "ghc_test.tsv"]}
    out = []
    for name in files.get(split, ["ghc_train.tsv"]):
        frame = read_frame(
            shared_path(root, f"gab_hate_corpus/{name}"), sep="\t", quoting=csv.QUOTE_NONE
        )
        harmful = (frame["hd"] + frame["cv"] + frame["vo"]) > 0
        part = split if name == "ghc_train.tsv" else "all"
        rows = labelled_prompts(frame["text"], harmful, "gab", part, HATE, 1500)
        violent = {" ".join(str(t).split()) for t in frame["text"][frame["cv"] > 0]}
        out += [
            Sample(**{**r.__dict__, "prompt_categories": ["Violence"]})
            if r.prompt in violent
            else r
            for r in rows
        ]
    return out


def read_olid_train(root: Path, split: str) -> list[Sample]:
    """OLID's training file (no licence), split by hash; its official test file is the
    held-out catalogue entry `olid`."""
    frame = read_frame(
        shared_path(root, "olid/olid-training-v1.0.tsv"), sep="\t", quoting=csv.QUOTE_NONE
    )
    texts = frame["tweet"].str.replace("@USER", "").str.replace("URL", "")
    return labelled_prompts(texts, frame["subtask_a"] == "OFF", "olid_train", split, HATE, 2000)


def read_sdcnl(root: Path, split: str) -> list[Sample]:
    """SDCNL (no licence): r/SuicideWatch posts are self-harm; r/depression posts are left out
    (SOURCE.md: many mention wanting to die, so they are not reliable negatives)."""
    frames = [
        read_frame(shared_path(root, f"sdcnl_suicide_depression/{n}"))
        for n in ("training-set.csv", "testing-set.csv")
    ]
    texts: list[str] = []
    for frame in frames:
        frame = frame[frame["is_suicide"] == 1]
        texts += list((frame["title"].fillna("") + ". " + frame["selftext"].fillna("")).str[:1500])
    return labelled_prompts(texts, [True] * len(texts), "sdcnl", split, ["Self-Harm"])


def read_twitter_suicidal(root: Path, split: str) -> list[Sample]:
    """Twitter suicidal intention (no licence): intention 1 is self-harm, 0 is not."""
    frame = read_frame(shared_path(root, "twitter_suicidal_intention/twitter-suicidal_data.csv"))
    return labelled_prompts(
        frame["tweet"], frame["intention"] == 1, "twitter_suicidal", split, ["Self-Harm"]
    )


def read_alpaca(root: Path, split: str) -> list[Sample]:
    """Alpaca-Eval instructions (data CC-BY-NC-4.0; the GPT-4 outputs are not used): benign."""
    rows = read_json(shared_path(root, "alpaca_eval/model_outputs.json"))
    texts = [r["instruction"] for r in rows]
    return labelled_prompts(texts, [False] * len(texts), "alpaca_eval", split)
