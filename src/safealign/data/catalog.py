"""The catalogue of named shared datasets, and the one resolver of the shared data folder.

Every verb that reads a public dataset by name (guard recipes, guard evaluation, `safealign
eval` tasks, `safealign data list`) looks the name up here: where the data lies under the shared
data folder, how it is read (a row format of `load_samples`, or a reader in `data/formats`), its
licence, its split rule, and whether it is held out. Held-out sets (benchmarks, over-refusal
prompts, sets whose licence forbids training) have only a test split, and a training mix that
names one is refused (`require_trainable`). Nothing here copies rows into the repository.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from safealign.data.formats import labelled_responses as responses
from safealign.data.formats import more_prompt_sets as more
from safealign.data.formats import prompt_sets as prompts
from safealign.data.formats.prompt_sets import held_out
from safealign.data.formats.shared_files import SHARED_DATA_FIX, shared_path
from safealign.data.loaders import load_samples
from safealign.data.schema import Sample
from safealign.data.splits import HELD_OUT_RULE, SPLIT_RULE, SPLITS
from safealign.errors import ConfigError, DataError

SHARED_DATA_ENV = "SAFEALIGN_SHARED_DATA"
PERMISSIVE = ("MIT", "Apache-2.0", "CC-BY-3.0", "CC-BY-4.0")
"""Licences the shipped default guard may be trained on."""

Reader = Callable[[Path, str], list[Sample]]
"""(shared data folder, split "train" | "dev" | "test" | "all") -> samples."""


@dataclass(frozen=True)
class Dataset:
    """One named dataset of the shared data folder."""

    name: str
    path: str
    """Where it lies under the shared data folder (a file, or the folders a reader combines)."""
    format: str | None
    """The `load_samples` row format of the file at `path` (None: only `reader` reads it)."""
    license: str
    held_out: bool
    """Evaluation only: all rows are test, and no training mix may include it."""
    description: str
    reader: Reader | None = None
    """The guard-labelled reading (hash splits, coarse categories) in `data/formats`; None:
    the rows as `format` reads them."""

    @property
    def split_rule(self) -> str:
        return HELD_OUT_RULE if self.held_out else SPLIT_RULE

    @property
    def permissive(self) -> bool:
        return self.license in PERMISSIVE

    @property
    def use(self) -> str:
        """What it may be used for, in one word or two."""
        if self.held_out:
            return "evaluation"
        return "training" if self.permissive else "training (experiments)"


def _reader(
    name: str,
    path: str,
    license: str,
    reader: Reader,
    description: str,
    *,
    held: bool = False,
    format: str | None = None,
) -> Dataset:
    return Dataset(name, path, format, license, held, description, reader)


def _benchmark(name: str, path: str, format: str, license: str, description: str) -> Dataset:
    return Dataset(name, path, format, license, True, description)


CATALOG: dict[str, Dataset] = {
    d.name: d
    for d in (
        _reader(
            "harmful-instructions",
            "advbench, harmbench, declare_lab_harmful_questions, refusal_direction",
            "MIT",
            prompts.read_harmful_instructions,
            "harmful requests from red-teaming sets",
        ),
        _reader(
            "user-content",
            "davidson_hate_offensive, mlma_hate_en, implicit_hate",
            "MIT",
            prompts.read_user_content,
            "hate and harassment vs benign tweets",
        ),
        _reader(
            "self-harm",
            "reddit_cssrs_suicide",
            "CC-BY-4.0",
            prompts.read_self_harm,
            "suicidal ideation vs supportive posts",
        ),
        _reader(
            "image-prompts",
            "i2p_prompts",
            "MIT",
            prompts.read_image_prompts,
            "sexual / violent / hateful descriptions",
        ),
        _reader(
            "benign",
            "clinc150, self_instruct_user",
            "CC-BY-3.0",
            prompts.read_benign,
            "everyday requests and answers",
        ),
        _reader(
            "do-not-answer",
            "do_not_answer/datasets/data_en.csv",
            "Apache-2.0",
            responses.read_do_not_answer,
            "risky prompts with six human-labelled responses each",
            format="do-not-answer",
        ),
        _reader(
            "gab",
            "gab_hate_corpus",
            "not verified",
            more.read_gab,
            "Gab hate posts (hd / cv / vo); its test file is the test split",
        ),
        _reader(
            "olid-train",
            "olid/olid-training-v1.0.tsv",
            "none",
            more.read_olid_train,
            "OLID training tweets (the official test file is olid)",
        ),
        _reader("sdcnl", "sdcnl_suicide_depression", "none", more.read_sdcnl, "r/SuicideWatch"),
        _reader(
            "twitter-suicidal",
            "twitter_suicidal_intention",
            "none",
            more.read_twitter_suicidal,
            "suicidal-intention tweets vs not",
        ),
        _reader(
            "alpaca",
            "alpaca_eval/model_outputs.json",
            "CC-BY-NC-4.0",
            more.read_alpaca,
            "Alpaca-Eval instructions (everyday requests; outputs unused)",
        ),
        _reader(
            "xstest-responses",
            "xstest/model_completions",
            "model terms",
            responses.read_xstest_responses,
            "2,250 human-labelled completions",
            held=True,
        ),
        _reader(
            "xstest-prompts",
            "xstest/xstest_prompts.csv",
            "CC-BY-4.0",
            responses.read_xstest_prompts,
            "over-refusal prompts: 250 safe look-alikes, 200 unsafe (eval task xstest)",
            held=True,
            format="xstest",
        ),
        _reader("olid", "olid", "none", prompts.read_olid, "offensive tweets", held=True),
        _reader("ethos", "ethos", "GPL-3.0", prompts.read_ethos, "hate comments", held=True),
        _reader(
            "toxigen",
            "toxigen_prompts",
            "CDLA-Permissive-2.0",
            prompts.read_toxigen,
            "implicit hate statements",
            held=True,
        ),
        _benchmark(
            "advbench",
            "advbench/dataset/raw/advbench.csv",
            "advbench",
            "MIT",
            "AdvBench harmful behaviours (eval task advbench)",
        ),
        _benchmark(
            "harmbench",
            "harmbench/dataset/raw/harmbench_val.csv",
            "harmbench",
            "MIT",
            "HarmBench val behaviours (eval task harmbench)",
        ),
        _benchmark(
            "beavertails-evaluation",
            "beavertails_evaluation/data/BeaverTails-Evaluation.csv",
            "beavertails",
            "CC-BY-NC-4.0",
            "BeaverTails-Evaluation prompts (eval task beavertails)",
        ),
        _benchmark(
            "do-not-answer-prompts",
            "do_not_answer/datasets/Instruction/do_not_answer_en.csv",
            "do-not-answer",
            "Apache-2.0",
            "Do-Not-Answer's 939 risky prompts (eval task do-not-answer)",
        ),
        _benchmark(
            "c2eval",
            "course_correction_c2eval/eval/test.jsonl",
            "pku-saferlhf",
            "CC-BY-NC-4.0 (derived)",
            "C2-Eval harmful prefixes, PKU format (eval tasks c2eval, preference)",
        ),
    )
}


def shared_data_dir(data_dir: str | Path | None = None) -> Path:
    """The shared data folder: `data_dir`, else $SAFEALIGN_SHARED_DATA, else ../shared/data
    beside the working directory or beside the repository; a `DataError` when it is missing."""
    if data_dir is None:
        data_dir = os.environ.get(SHARED_DATA_ENV) or None
    if data_dir is not None:
        candidates = [Path(data_dir)]
    else:
        repo = Path(__file__).resolve().parents[3]
        candidates = [base / ".." / "shared" / "data" for base in (Path.cwd(), repo)]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate.resolve()
    raise DataError(
        "shared data folder not found.",
        path=candidates[0].resolve(),
        fix=f"Pass --data-dir (or data_dir: in the config), or set {SHARED_DATA_ENV} "
        "to the folder holding the datasets.",
    )


def get_dataset(name: str) -> Dataset:
    """The catalogue entry `name`; a `DataError` listing the known names otherwise."""
    if name not in CATALOG:
        raise DataError(
            f'unknown dataset "{name}".',
            fix=f"Known: {', '.join(CATALOG)} (safealign data list).",
        )
    return CATALOG[name]


def dataset_path(name: str, data_dir: str | Path | None = None) -> Path:
    """Where a single-file catalogue entry lies (a `DataError` when it is not there)."""
    return shared_path(shared_data_dir(data_dir), get_dataset(name).path)


def load_rows(
    name: str, data_dir: str | Path | None = None, *, limit: int | None = None
) -> list[Sample]:
    """The whole file of a catalogue entry as its row format reads it (what `safealign eval`
    tasks score), the first `limit` rows when given."""
    dataset = get_dataset(name)
    if dataset.format is None:
        raise DataError(
            f'"{name}" combines several files: read it with load_dataset("{name}", split).'
        )
    return load_samples(dataset_path(name, data_dir), dataset.format, limit=limit).samples


def load_dataset(
    name: str,
    split: str = "all",
    data_dir: str | Path | None = None,
    *,
    limit: int | None = None,
) -> list[Sample]:
    """The samples of one catalogue entry and split (see `Dataset.split_rule`); `limit` keeps
    the first `limit` rows of a file entry, or of a reader's output."""
    dataset = get_dataset(name)
    if split not in SPLITS:
        raise DataError(f'unknown split "{split}" for "{name}".', fix=f"Use one of {SPLITS}.")
    root = shared_data_dir(data_dir)
    if dataset.reader is not None:
        samples = dataset.reader(root, split)
        return samples[:limit] if limit is not None else samples
    held_out(name, split)
    return load_samples(shared_path(root, dataset.path), dataset.format, limit=limit).samples


def require_trainable(names: list[str], *, permissive_only: bool = True) -> list[Dataset]:
    """The entries of a training mix; a `ConfigError` for an unknown name, a held-out set, or
    (with `permissive_only`) a licence outside MIT / Apache-2.0 / CC-BY."""
    entries = []
    for name in names:
        if name not in CATALOG:
            raise ConfigError(f'unknown dataset "{name}". Known: {", ".join(CATALOG)}.')
        dataset = CATALOG[name]
        if dataset.held_out:
            raise ConfigError(
                f'dataset "{name}" is held out for evaluation ({dataset.description}); '
                "a training mix cannot include it. Remove it from sources: "
                "(safealign data list shows what each set may be used for)."
            )
        if permissive_only and not dataset.permissive:
            raise ConfigError(
                f'source "{name}" is licensed {dataset.license}, not MIT / Apache-2.0 / CC-BY. '
                "Set permissive_only: false for an experiment (never for the shipped default)."
            )
        entries.append(dataset)
    return entries


@dataclass(frozen=True)
class CatalogRow:
    """One line of `safealign data list`."""

    name: str
    rows: int | None
    """Samples in the whole set (all splits); None when its files are missing."""
    license: str
    use: str
    split_rule: str
    description: str
    problem: str | None = None
    """Why `rows` is None (the error, first line)."""


def catalog_rows(data_dir: str | Path | None = None) -> list[CatalogRow]:
    """Every catalogue entry with its row count, read from the shared data folder now."""
    root = shared_data_dir(data_dir)
    out = []
    for dataset in CATALOG.values():
        try:
            rows: int | None = len(load_dataset(dataset.name, "all", root))
            problem = None
        except DataError as exc:
            rows, problem = None, str(exc).splitlines()[0]
        out.append(
            CatalogRow(
                dataset.name,
                rows,
                dataset.license,
                dataset.use,
                dataset.split_rule,
                dataset.description,
                problem,
            )
        )
    return out


__all__ = [
    "CATALOG",
    "PERMISSIVE",
    "SHARED_DATA_FIX",
    "CatalogRow",
    "Dataset",
    "catalog_rows",
    "dataset_path",
    "get_dataset",
    "load_dataset",
    "load_rows",
    "require_trainable",
    "shared_data_dir",
]
