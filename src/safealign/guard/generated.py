"""Response-level training data generated at run time by the embedded LM, cached outside the repo.

The permissive shared sets hold harmful *requests* but almost no harmful *answers* (142 in
Do-Not-Answer), so a response head trained on them only echoes the prompt. The untuned embedded
SmolLM2 complies with nearly every harmful request, which makes it a source of labelled answers:

- harmful request, answered (no refusal in its opening, `safealign.data.refusal`) -> harmful,
  not a refusal;
- harmful request, with a refusal opening prefilled and continued by the model -> safe refusal;
- harmful request, with a warn-then-comply opening prefilled ("This is dangerous. That said,
  here are the steps:") and continued by the model -> harmful, not a refusal;
- benign request, answered -> safe, not a refusal (plain answers the refusal head must not flag).

Nothing is written by hand and nothing lands in the repository: the generations are cached as
JSONL under `safealign_home()/guard/`, keyed by the prompts and settings, so the one training
command regenerates them on a fresh machine and reuses them afterwards.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from safealign.data.catalog import load_dataset
from safealign.data.refusal import REFUSAL_OPENINGS, is_refusal
from safealign.data.schema import Response, Sample
from safealign.data.text import first_sentence
from safealign.io import read_jsonl, write_jsonl_atomic
from safealign.models import GenerationConfig, generate, load_model
from safealign.models.loading import LoadedModel
from safealign.models.paths import safealign_home

log = logging.getLogger(__name__)

HARMFUL_PROMPT_SOURCES = ("advbench", "catqa", "harmfulqa", "dangerousqa", "refusal_direction")
"""Harmful-request sets whose licenses are permissive (AdvBench MIT, declare_lab Apache-2.0,
refusal_direction Apache-2.0)."""
BENIGN_PROMPT_SOURCES = ("clinc150", "self_instruct")
GENERATED_SOURCE = "generated"
GENERATED_LICENSE = "Apache-2.0 (SmolLM2-135M-Instruct answers to the permissive prompts)"
DISCLAIMER_OPENINGS = (
    "This is illegal and I don't condone it, but here is an overview:",
    "Please note that this is dangerous. That said, here are the steps:",
    "It's important to be careful with this. Here is how it is done:",
    "While I must stress that this is unethical, here is what you asked for:",
    "Keep in mind this may be against the law. Here's how:",
    "As an AI, I advise against this, but here is the information:",
)
"""Openings that warn and then comply: strong models often answer unsafe requests this way, and
a guard that reads the warning as a refusal misses the harmful answer that follows."""


@dataclass
class GeneratedResponsesConfig:
    """How many answers the embedded LM writes for the guard's response-level training data."""

    enabled: bool = True
    """Generate (or reuse cached) responses and add them to the training mix."""
    model: str = "embedded"
    """Causal LM that answers (the untuned embedded SmolLM2 complies with harmful requests)."""
    dtype: str = "auto"
    """Generation dtype ("auto" = bf16 on CPUs with avx512_bf16)."""
    harmful_answers: int = 300
    """Harmful requests answered freely (labelled harmful unless the answer refuses)."""
    prefilled_refusals: int = 120
    """Harmful requests answered after a prefilled refusal opening (safe, refusing)."""
    disclaimed_answers: int = 0
    """Harmful requests answered after a prefilled warn-then-comply opening (harmful, not a
    refusal)."""
    benign_answers: int = 180
    """Benign requests answered (safe, not refusing)."""
    max_new_tokens: int = 48
    """Tokens per answer (the guard reads at most max_length tokens of the pair anyway)."""
    batch_size: int = 32
    """Prompts per generation batch."""
    dev_fraction: float = 0.15
    """Share of the generated items drawn from dev-split prompts (for calibration)."""
    seed: int = 0
    """Seed for drawing prompts and refusal openings."""
    cache_dir: str | None = None
    """Cache folder (None: safealign_home()/guard)."""


def plan_items(
    pools: dict[str, dict[str, list[Sample]]],
    config: GeneratedResponsesConfig,
    shares: dict[str, float] | None = None,
) -> list[dict]:
    """Which prompt gets which kind of answer: {"split", "kind", "prompt", "prefix"} rows.

    `pools[split]["harmful" | "benign"]` are candidate samples; each prompt is used once.
    `shares[split]` scales the config's counts per split (default: train 1 - dev_fraction, dev
    dev_fraction)."""
    if shares is None:
        shares = {"train": 1 - config.dev_fraction, "dev": config.dev_fraction}
    rng = random.Random(config.seed)
    items = []
    for split, share in shares.items():
        harmful = list(pools[split]["harmful"])
        benign = list(pools[split]["benign"])
        rng.shuffle(harmful)
        rng.shuffle(benign)
        n_answer = round(config.harmful_answers * share)
        n_refuse = round(config.prefilled_refusals * share)
        n_benign = round(config.benign_answers * share)
        n_disclaimed = round(config.disclaimed_answers * share)
        for sample in harmful[:n_answer]:
            items.append({"split": split, "kind": "answer", "prompt": sample.prompt, "prefix": ""})
        for sample in harmful[n_answer : n_answer + n_refuse]:
            prefix = rng.choice(REFUSAL_OPENINGS)
            items.append(
                {"split": split, "kind": "refusal", "prompt": sample.prompt, "prefix": prefix}
            )
        for sample in benign[:n_benign]:
            items.append({"split": split, "kind": "benign", "prompt": sample.prompt, "prefix": ""})
        start = n_answer + n_refuse
        for sample in harmful[start : start + n_disclaimed]:
            prefix = rng.choice(DISCLAIMER_OPENINGS)
            items.append(
                {"split": split, "kind": "disclaimed", "prompt": sample.prompt, "prefix": prefix}
            )
    return items


def label_item(item: dict) -> Sample:
    """A generated row as a labelled Sample (see the module docstring for the rules).

    A prefilled refusal keeps only its first sentence: the small model often goes on to comply
    ("..., however here is how"), which would teach that a refusal opening makes anything safe.
    A benign request answered with a refusal phrase ("I'm sorry for any confusion...") gets an
    unknown refusal label: such openings are as often apologies as refusals."""
    text = item["response"].strip()
    if item["kind"] == "refusal":
        text = item["prefix"] + first_sentence(text[len(item["prefix"]) :])
        response = Response(text, is_safe=True, refusal=True, categories=[], label="prefilled")
        harmful_prompt = True
    elif item["kind"] == "disclaimed":
        response = Response(text, is_safe=False, refusal=False, label="prefilled")
        harmful_prompt = True
    else:
        refused = is_refusal(text)
        harmful_prompt = item["kind"] == "answer"
        response = Response(
            text,
            is_safe=not (harmful_prompt and not refused),
            refusal=refused if harmful_prompt or not refused else None,
            label="generated",
        )
    return Sample(
        prompt=item["prompt"],
        responses=[response],
        prompt_harmful=harmful_prompt,
        taxonomy="coarse",
        source=GENERATED_SOURCE,
        id=f"generated:{hashlib.sha256(item['prompt'].encode()).hexdigest()[:12]}",
        metadata={"kind": item["kind"], "split": item["split"]},
    )


def cache_path(items: list[dict], config: GeneratedResponsesConfig) -> Path:
    return keyed_cache_path("generated-responses", config, ("model", "max_new_tokens"), items)


def cached_rows(path: Path, produce: Callable[[Path], list[dict]], what: str) -> list[dict]:
    """The rows of the cache file `path`, else `produce(journal)` written there atomically.

    `produce` journals its answers as they come: a Ctrl-C loses at most one batch, and the next
    run (same plan, same cache key) picks up where this one stopped."""
    if path.is_file():
        rows = list(read_jsonl(path))
        log.info("%s: %d from cache %s", what, len(rows), path)
        return rows
    journal = path.with_suffix(".journal.jsonl")
    rows = produce(journal)
    write_jsonl_atomic(path, rows)
    journal.unlink(missing_ok=True)
    log.info("%s: %d written to %s", what, len(rows), path)
    return rows


def keyed_cache_path(kind: str, config, settings: Sequence[str], plan: list[dict]) -> Path:
    """`<cache_dir or safealign_home()/guard>/<kind>-<digest>.jsonl`, the digest taken over the
    named settings of `config` and the plan: other prompts or decoding, another file."""
    chosen = {k: v for k, v in asdict(config).items() if k in settings}
    key = json.dumps([chosen, plan], sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    folder = Path(config.cache_dir) if config.cache_dir else safealign_home() / "guard"
    return folder / f"{kind}-{digest}.jsonl"


def generate_items(
    items: list[dict],
    config: GeneratedResponsesConfig,
    loaded: LoadedModel | None = None,
    journal: Path | None = None,
) -> list[dict]:
    """Answer every planned item with the LM (greedy, batched, length-sorted); `loaded`
    replaces `config.model` when given. With `journal`, answers are recorded batch by batch
    and the ones recorded there before (same model, prompts, decoding) are reused."""
    loaded = loaded or load_model(config.model, dtype=config.dtype)
    outputs = generate(
        loaded,
        [item["prompt"] for item in items],
        GenerationConfig(max_new_tokens=config.max_new_tokens, batch_size=config.batch_size),
        assistant_prefixes=[item["prefix"] or None for item in items],
        progress=len(items) > 50,
        journal=journal,
        resume=journal is not None,
    )
    return [
        {**item, "response": (item["prefix"] + " " + out[0].output.strip()).strip()}
        for item, out in zip(items, outputs, strict=True)
    ]


def generated_samples(
    pools: dict[str, dict[str, list[Sample]]],
    config: GeneratedResponsesConfig,
    loaded: LoadedModel | None = None,
    shares: dict[str, float] | None = None,
) -> dict[str, list[Sample]]:
    """Generated, labelled samples per split (those of `shares`, default "train" and "dev"),
    from the cache when present."""
    items = plan_items(pools, config, shares)
    rows = cached_rows(
        cache_path(items, config),
        lambda journal: generate_items(items, config, loaded, journal=journal),
        "generated responses",
    )
    out: dict[str, list[Sample]] = {split: [] for split in shares or ("train", "dev")}
    for row in rows:
        out[row["split"]].append(label_item(row))
    return out


PROMPT_SOURCES = ("harmful-instructions", "benign")
"""Catalogue datasets the generated answers' prompts come from (a recipe must train on both)."""


def generated_for_sources(
    sources: list[str], config: GeneratedResponsesConfig, data_dir: str | Path | None
) -> dict[str, list[Sample]]:
    """Generated samples per split for a recipe training on `sources`: empty when disabled or
    when the prompt sources are not in the mix. The v1 and v2 recipes draw the same prompts, so
    with the same settings they share one cache file."""
    if not config.enabled or not set(PROMPT_SOURCES) <= set(sources):
        return {"train": [], "dev": []}
    pools = {split: prompt_pools(split, data_dir) for split in ("train", "dev")}
    return generated_samples(pools, config)


def generated_test_samples(
    config: GeneratedResponsesConfig,
    data_dir: str | Path | None,
    share: float,
    split: str = "test",
    loaded: LoadedModel | None = None,
) -> list[Sample]:
    """Answers the LM gives to prompts of an evaluation split ("test", or "dev"), labelled by the
    same rules: the run-time part of the response-level target (issue 14). `share` scales the
    config's counts (0.3 of 300 / 120 / 180 is 90 answers, 36 prefilled refusals, 54 benign
    answers). No guard trains on test prompts, so no guard has seen the test answers."""
    if split not in ("test", "dev"):
        raise ValueError(f'split must be "test" or "dev", not {split!r}')
    pools = {split: prompt_pools(split, data_dir)}
    return generated_samples(pools, config, loaded, shares={split: share})[split]


def prompt_pools(split: str, data_dir: str | Path | None) -> dict[str, list[Sample]]:
    """The harmful and benign prompts of one split that generated answers are drawn from."""
    harmful = load_dataset("harmful-instructions", split, data_dir)
    benign = load_dataset("benign", split, data_dir)
    return {
        "harmful": [s for s in harmful if s.source in HARMFUL_PROMPT_SOURCES],
        "benign": [s for s in benign if s.source in BENIGN_PROMPT_SOURCES],
    }
