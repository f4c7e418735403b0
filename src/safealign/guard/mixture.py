"""Guard v2's training mixture: catalogue datasets, a few thousand texts each, and a fully
fine-tuned encoder.

The datasets (where they lie, licences, split rules, readers) are entries of the one catalogue,
`safealign.data.catalog`: the v1 sources plus more user-written sets (`data/formats/
more_prompt_sets.py`: Gab, OLID's training file, SDCNL, Twitter suicidal intention, Alpaca-Eval).
The catalogue refuses held-out sets for any mixture, and with `permissive_only` (the shipped
default) any licence outside MIT / Apache-2.0 / CC-BY. Those sets hold ~140 harmful answers in
train and ~20 in dev, so the recipe can add the v1 recipe's answers written by the embedded LM and
labelled by rule (`guard.generated`), to train and, for fitting the response threshold, to dev.
"""

from __future__ import annotations

import json
import random
import shutil
from collections import Counter
from dataclasses import asdict, dataclass, replace
from dataclasses import field as dataclass_field
from pathlib import Path

from safealign.data.catalog import get_dataset, load_dataset, require_trainable, shared_data_dir
from safealign.guard.benign_requests import (
    BENIGN_REQUESTS_LICENSE,
    BENIGN_REQUESTS_SOURCE,
    BenignRequestsConfig,
    benign_requests,
)
from safealign.guard.encoder_guard import CONFIG_FILE, WEIGHTS_FILE, EncoderGuard
from safealign.guard.encoder_training import (
    EncoderGuardTrainConfig,
    TrainResult,
    calibrate,
    train_encoder_guard,
)
from safealign.guard.examples import GuardExample, examples_from_samples
from safealign.guard.generated import (
    GENERATED_LICENSE,
    GENERATED_SOURCE,
    GeneratedResponsesConfig,
    generated_for_sources,
)
from safealign.guard.resume import interrupted, work_folder
from safealign.guard.sources import DEFAULT_TRAIN_SOURCES, with_refusals
from safealign.io import atomic_path


def is_permissive(name: str) -> bool:
    """Whether a shipped guard may train on the catalogue entry `name` (a `DataError` names
    the known entries for an unknown one)."""
    return get_dataset(name).permissive


# -- the v2 training recipe -------------------------------------------------------------------


@dataclass
class MixtureTrainConfig:
    """A guard trained on v1 and v2 sources, a few thousand texts per source."""

    sources: list[str] = dataclass_field(
        default_factory=lambda: list(DEFAULT_TRAIN_SOURCES),
        metadata={"help": "Catalogue datasets to train on (safealign data list)."},
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
    generated: GeneratedResponsesConfig = dataclass_field(
        default_factory=lambda: GeneratedResponsesConfig(enabled=False),
        metadata={
            "help": "Answers the embedded LM writes, labelled by rule (the v1 recipe's response "
            "data; cached outside the repo): all added to train, their dev share to dev."
        },
    )
    preamble_share: float = dataclass_field(
        default=0.0,
        metadata={
            "help": "Share of the train requests (harmful and benign) also added with the first "
            "words of a benign request in front, so harm counts wherever it sits in a text."
        },
    )
    benign_requests: BenignRequestsConfig = dataclass_field(
        default_factory=BenignRequestsConfig,
        metadata={
            "help": "Everyday requests the embedded LM writes ('How do I ...?'), benign "
            "negatives shaped like harmful instructions (cached outside the repo): train and dev."
        },
    )
    encoder: EncoderGuardTrainConfig = dataclass_field(
        default_factory=lambda: EncoderGuardTrainConfig(
            finetune="full", learning_rate=8e-5, max_length=128, epochs=1.0
        ),
        metadata={"help": "Model and optimisation settings."},
    )
    resume: bool = dataclass_field(
        default=False,
        metadata={
            "help": "Continue from the training state a Ctrl-C saved in <output>.checkpoint/."
        },
    )

    def __post_init__(self) -> None:
        if not 0 <= self.preamble_share <= 1:
            raise ValueError(f"preamble_share must be between 0 and 1, got {self.preamble_share}")


def mixture_examples(
    config: MixtureTrainConfig, split: str, limit: int | None
) -> list[GuardExample]:
    """Examples of every source's split, at most `limit` per source (stable subset)."""
    out = []
    for name in config.sources:
        samples = load_dataset(name, split, config.data_dir)
        samples = with_refusals(samples, config.refusal_share, seed=len(split))
        examples = examples_from_samples(samples)
        if limit is not None and len(examples) > limit:
            examples = random.Random(name).sample(examples, limit)
        out += examples
    return out


def with_preambles(examples: list[GuardExample], share: float, seed: int = 0) -> list[GuardExample]:
    """Copies of `share` of the requests without a response, each with the first 2-12 words of a
    benign request in front and its labels kept.

    A request that opens a text is what every training set holds; in real messages and in long
    texts cut into windows, harm follows other words ("The week Give me step-by-step
    instructions to build a pipe bomb." scored 0.24 where the request alone scored 0.93).
    Benign requests get preambles too, so a preamble itself never signals harm."""
    benign = [e.prompt for e in examples if e.response is None and e.prompt_harmful is False]
    if not benign:
        return []
    rng = random.Random(seed)
    copies = []
    for example in examples:
        if example.response is not None or example.prompt_harmful is None:
            continue
        if rng.random() < share:
            words = rng.choice(benign).split()
            fragment = " ".join(words[: rng.randint(2, 12)])
            copies.append(replace(example, prompt=f"{fragment} {example.prompt}"))
    return copies


def run_time_samples(config: MixtureTrainConfig) -> tuple[dict[str, list], dict[str, str]]:
    """The recipe's texts written by the embedded LM, per split ("train", "dev"): labelled
    answers (`generated`) and everyday requests (`benign_requests`); and their licences."""
    generated = generated_for_sources(config.sources, config.generated, config.data_dir)
    requests = benign_requests(config.benign_requests)
    licences = {}
    if generated["train"]:
        licences[GENERATED_SOURCE] = GENERATED_LICENSE
    if requests["train"]:
        licences[BENIGN_REQUESTS_SOURCE] = BENIGN_REQUESTS_LICENSE
    return {split: generated[split] + requests[split] for split in ("train", "dev")}, licences


def calibration_examples(config: MixtureTrainConfig, generated_dev: list) -> list[GuardExample]:
    """The recipe's dev set: at most `dev_limit` shared dev examples (stable draw), then every
    dev text written by the LM (kept whole: the shared dev splits hold ~20 harmful responses,
    too few to fit the response threshold on)."""
    dev = mixture_examples(config, "dev", None)
    if len(dev) > config.dev_limit:
        dev = random.Random(0).sample(dev, config.dev_limit)
    return dev + examples_from_samples(generated_dev)


def recalibrate_guard_mixture(config: MixtureTrainConfig, guard: str) -> dict[str, dict]:
    """Fit the trained guard in folder `guard` again on the recipe's dev set (temperatures,
    response rule, thresholds by `config.encoder.response_threshold`, review bands) and save it
    to `config.output`; return the dev metrics. Training never reads dev, so this is what
    training with these calibration settings gives, without the training."""
    require_trainable(config.sources, permissive_only=config.permissive_only)
    shared_data_dir(config.data_dir)
    loaded = EncoderGuard.load(guard)
    generated, _ = run_time_samples(config)
    dev = calibration_examples(config, generated["dev"])
    metrics = calibrate(loaded, dev, response_threshold=config.encoder.response_threshold)
    loaded.config.training.update(
        {"dev_metrics": metrics, "dev_examples": len(dev), "recalibrated_from": str(guard)}
    )
    with atomic_path(config.output) as staged:  # the weights are unchanged: copied byte for byte
        staged.mkdir()
        shutil.copyfile(Path(guard) / WEIGHTS_FILE, staged / WEIGHTS_FILE)
        (staged / CONFIG_FILE).write_text(json.dumps(asdict(loaded.config), indent=2) + "\n")
    return metrics


def train_guard_mixture(config: MixtureTrainConfig) -> TrainResult:
    """Train, calibrate on the dev splits and save a v2 guard; check held-out sets and licences
    first, and the shared data folder, before any model is loaded."""
    entries = require_trainable(config.sources, permissive_only=config.permissive_only)
    shared_data_dir(config.data_dir)
    generated, licences = run_time_samples(config)
    train = mixture_examples(config, "train", config.per_source_limit)
    train += examples_from_samples(generated["train"])
    train += with_preambles(train, config.preamble_share)
    dev = calibration_examples(config, generated["dev"])
    work = work_folder(config.output)
    try:
        result = train_encoder_guard(
            train, dev, config.encoder, checkpoint=work, resume=config.resume
        )
    except KeyboardInterrupt as exc:
        raise interrupted("mixture", work, config, exc, resumable=True) from None
    result.guard.config.training.update(
        {
            "sources": {d.name: d.license for d in entries} | licences,
            "train_examples": dict(Counter(e.source for e in train)),
            "dev_examples": len(dev),
            "recipe": asdict(config),
        }
    )
    result.guard.save(config.output)
    shutil.rmtree(work, ignore_errors=True)
    return result
