"""Training a guard from named shared-data sources: the recipe behind the embedded default.

`safealign guard train --config configs/guard/default.yaml` runs `train_guard_from_sources`:
train and dev splits of each catalogue dataset (stable hash splits, `safealign.data.catalog`;
held-out sets are refused), written refusals added
to a share of the prompts, multi-task training, calibration on dev, and an atomic save.
"""

from __future__ import annotations

import logging
import random
import shutil
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from safealign.data.catalog import CATALOG, load_dataset, require_trainable, shared_data_dir
from safealign.guard.encoder_training import (
    EncoderGuardTrainConfig,
    TrainResult,
    train_encoder_guard,
)
from safealign.guard.examples import GuardExample, examples_from_samples
from safealign.guard.generated import (
    GENERATED_LICENSE,
    GENERATED_SOURCE,
    GeneratedResponsesConfig,
    generated_for_sources,
)
from safealign.guard.llm_guard import LLMGuard, LLMGuardConfig
from safealign.guard.llm_training import LLMGuardTrainConfig, train_llm_guard
from safealign.guard.resume import interrupted, work_folder
from safealign.guard.sources import DEFAULT_TRAIN_SOURCES, with_refusals
from safealign.models import load_model

log = logging.getLogger(__name__)


@dataclass
class GuardTrainConfig:
    """A guard training run: which sources, how to train, where to write the guard."""

    sources: list[str] = field(default_factory=lambda: list(DEFAULT_TRAIN_SOURCES))
    """Catalogue datasets (`safealign data list`) to train on; held-out ones are refused."""
    data_dir: str | None = None
    """The shared data folder; None = $SAFEALIGN_SHARED_DATA or ../shared/data beside the repo."""
    output: str = "runs/guard"
    """Folder the trained guard is written to."""
    permissive_only: bool = True
    """Refuse sources whose license is not MIT / Apache-2.0 / CC-BY (the shipped default)."""
    refusal_share: float = 0.3
    """Share of response-less prompts given a written refusal as a safe, refusing response."""
    dev_limit: int = 3000
    """At most this many dev examples for calibration (random, stable)."""
    generated: GeneratedResponsesConfig = field(default_factory=GeneratedResponsesConfig)
    """Answers written by the embedded LM at run time (cached outside the repo) for the
    response-level heads; needs the harmful-instructions and benign sources."""
    encoder: EncoderGuardTrainConfig = field(default_factory=EncoderGuardTrainConfig)
    """Model and optimisation settings."""
    resume: bool = False
    """Continue from the training state a Ctrl-C saved in `<output>.checkpoint/`."""


def train_guard_from_sources(config: GuardTrainConfig) -> TrainResult:
    """Build the training mix, train, calibrate, save to `config.output`; return the result.

    Ctrl-C raises `RunInterrupted` (the state is saved at a step boundary; see `guard.resume`).
    """
    require_trainable(config.sources, permissive_only=config.permissive_only)
    root = shared_data_dir(config.data_dir)
    work = work_folder(config.output)
    try:
        result = _train_from_sources(config, root, work)
    except KeyboardInterrupt as exc:
        raise interrupted("encoder", work, config, exc, resumable=True) from None
    shutil.rmtree(work, ignore_errors=True)
    return result


def _train_from_sources(config: GuardTrainConfig, root: Path, work: Path) -> TrainResult:
    generated = build_generated(config, root)
    train = _examples(config, root, "train")
    limit = config.encoder.max_train_examples
    extra = examples_from_samples(generated["train"])
    if limit is not None and len(train) + len(extra) > limit:  # every generated answer is kept
        train = random.Random(config.encoder.seed).sample(train, max(0, limit - len(extra)))
    train += extra
    dev = _examples(config, root, "dev")
    if len(dev) > config.dev_limit:
        dev = random.Random(0).sample(dev, config.dev_limit)
    dev += examples_from_samples(generated["dev"])  # kept whole: the response rule is fitted here
    log.info("guard mix: %d train, %d dev examples", len(train), len(dev))
    result = train_encoder_guard(train, dev, config.encoder, checkpoint=work, resume=config.resume)
    result.guard.config.training.update(
        {
            "sources": {n: CATALOG[n].license for n in config.sources}
            | ({GENERATED_SOURCE: GENERATED_LICENSE} if generated["train"] else {}),
            "train_examples": dict(Counter(e.source for e in train)),
            "dev_examples": len(dev),
            "recipe": asdict(config),
        }
    )
    result.guard.save(config.output)
    return result


def build_generated(config: GuardTrainConfig, root: Path) -> dict[str, list]:
    """Generated response-level samples per split (empty when disabled or the prompt sources
    are not in the mix)."""
    return generated_for_sources(config.sources, config.generated, root)


def _examples(config: GuardTrainConfig, root: Path, split: str) -> list[GuardExample]:
    samples = [s for name in config.sources for s in load_dataset(name, split, root)]
    return examples_from_samples(
        with_refusals(samples, config.refusal_share, seed=("train", "dev", "test").index(split))
    )


@dataclass
class LLMGuardRecipeConfig:
    """A LoRA run of the LLM guard on named sources (an experiment: the shipped default is the
    encoder guard)."""

    model: str = "embedded"
    """Base causal LM spec."""
    sources: list[str] = field(default_factory=lambda: list(DEFAULT_TRAIN_SOURCES))
    """Named sources to train on (train split)."""
    data_dir: str | None = None
    """Shared data folder (None: $SAFEALIGN_SHARED_DATA or ../shared/data)."""
    max_examples: int = 400
    """Random subset size: the LLM guard is slow to train on CPU."""
    output: str = "runs/llm-guard"
    """Folder for the adapter and llm_guard_config.json."""
    dtype: str = "float32"
    """Training dtype of the base model."""
    train: LLMGuardTrainConfig = field(default_factory=LLMGuardTrainConfig)
    """LoRA and optimisation settings."""


def train_llm_guard_from_sources(config: LLMGuardRecipeConfig) -> list[float]:
    """Train a LoRA LLM guard on a subset of the sources' train split and save it."""
    require_trainable(config.sources, permissive_only=False)  # an experiment: held-out refused
    root = shared_data_dir(config.data_dir)
    samples = [s for name in config.sources for s in load_dataset(name, "train", root)]
    examples = examples_from_samples(with_refusals(samples, 0.3))
    if len(examples) > config.max_examples:
        examples = random.Random(config.train.seed).sample(examples, config.max_examples)
    work = work_folder(config.output)
    try:
        guard = LLMGuard(
            load_model(config.model, dtype=config.dtype),
            LLMGuardConfig(model=config.model, dtype=config.dtype),
        )
        losses = train_llm_guard(guard, examples, config.train)
    except KeyboardInterrupt as exc:
        raise interrupted("llm", work, config, exc, resumable=False) from None
    guard.save(config.output)
    shutil.rmtree(work, ignore_errors=True)
    return losses
