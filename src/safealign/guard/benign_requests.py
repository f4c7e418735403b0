"""Everyday requests written at run time by the embedded LM: benign negatives shaped like the
harmful instructions.

The permissive harmful sets are questions and instructions ("How do I make a bomb?", "Write a
tutorial on ..."), while the permissive benign sets are short CLINC150 intents and 252
Self-Instruct tasks. A guard trained on them learns the *shape* "How do I ...?" as harm: guard v2
flagged 29 of 73 Alpaca-Eval dev requests ("How do I make apple juice?" 0.97, "How do I build a
PC?" 1.00). Alpaca is CC-BY-NC, so the shipped guard may not train on it; instead the untuned
SmolLM2 is asked for a question about an everyday topic, with the question's opening prefilled
("How do I", "Write a", ...), and the first sentence of its continuation is kept. The 135M model
writes many odd questions, but all of them are benign, which is what the label says.

Nothing is written by hand but the topic and opening lists; the generations are cached as JSONL
under `safealign_home()/guard/`, keyed by the plan and settings, like `guard.generated`.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass
from pathlib import Path

from safealign.data.refusal import is_refusal
from safealign.data.schema import Sample
from safealign.guard.generated import cached_rows, keyed_cache_path
from safealign.models import GenerationConfig, generate, load_model
from safealign.models.loading import LoadedModel

BENIGN_REQUESTS_SOURCE = "benign-generated"
BENIGN_REQUESTS_LICENSE = "Apache-2.0 (requests written by SmolLM2-135M-Instruct)"

TOPICS = (
    "cooking dinner",
    "baking bread",
    "gardening",
    "house plants",
    "car maintenance",
    "building a computer",
    "fixing a bike",
    "math homework",
    "algebra",
    "geometry",
    "world history",
    "ancient Rome",
    "personal finance",
    "saving money",
    "taxes",
    "travel planning",
    "packing for a trip",
    "pet care",
    "training a dog",
    "cats",
    "home repair",
    "plumbing",
    "painting a room",
    "fitness",
    "running",
    "yoga",
    "healthy eating",
    "sleep",
    "writing a cover letter",
    "job interviews",
    "learning a language",
    "grammar",
    "music theory",
    "playing the guitar",
    "chemistry class",
    "physics",
    "biology",
    "astronomy",
    "movies",
    "books",
    "poetry",
    "writing a story",
    "photography",
    "drawing",
    "knitting",
    "woodworking",
    "video games",
    "board games",
    "chess",
    "football",
    "basketball",
    "programming in Python",
    "spreadsheets",
    "email etiquette",
    "public speaking",
    "parenting",
    "birthday parties",
    "weddings",
    "camping",
    "hiking",
    "fishing",
    "the weather",
    "cleaning the house",
    "laundry",
    "making coffee",
    "wine",
    "recycling",
    "geography",
    "philosophy",
    "economics",
)
"""Everyday subjects; the model picks the question."""
LOOKALIKE_TOPICS = (
    "resetting a router password",
    "changing an email password",
    "protecting a home network",
    "killing weeds in the lawn",
    "getting rid of ants",
    "first aid for burns",
    "children's fever medicine",
    "hunting season rules",
    "archery",
    "fireworks on New Year's Eve",
    "cleaning with bleach",
    "the history of World War II",
    "self-defense classes",
    "crime novels",
    "locksmith jobs",
)
"""Everyday subjects whose words also occur in harmful requests (password, kill, medicine,
war): the benign side of the words a guard must not react to alone. Written for this recipe
(no held-out set was read)."""
OPENINGS = (
    "How do I",
    "How can I",
    "What is the best way to",
    "Can you explain",
    "Write a",
    "Give me",
    "What are some",
    "Can you help me",
    "Explain",
    "Tell me",
    "Why does",
    "What should I",
    "How do you",
    "Is it",
    "Create a",
    "Describe",
)
"""Prefilled openings: the forms harmful requests take too."""
ALL_TOPICS = TOPICS + LOOKALIKE_TOPICS
ASSISTANT_SPEAK = re.compile(r"\b(assist you|help you|I'm here|I am here|as an AI)\b", re.I)
"""Continuations that talk as the assistant instead of asking: dropped."""


@dataclass
class BenignRequestsConfig:
    """How many everyday requests the embedded LM writes as benign training negatives."""

    enabled: bool = False
    """Generate (or reuse cached) requests and add them to the training mix and dev."""
    model: str = "embedded"
    """Causal LM that writes the requests."""
    dtype: str = "auto"
    """Generation dtype ("auto" = bf16 on CPUs with avx512_bf16)."""
    count: int = 1200
    """Requests planned; those the filter drops (assistant talk, too short, duplicates) are
    not replaced."""
    max_new_tokens: int = 32
    """Tokens per continuation (only its first sentence is kept)."""
    temperature: float = 0.8
    """Sampling temperature (greedy decoding would repeat one question per topic)."""
    top_p: float = 0.95
    """Nucleus sampling mass."""
    batch_size: int = 32
    """Prompts per generation batch."""
    dev_fraction: float = 0.15
    """Share of the requests that go to dev (calibration) instead of train."""
    seed: int = 0
    """Seed for the plan and the sampling."""
    cache_dir: str | None = None
    """Cache folder (None: safealign_home()/guard)."""

    def __post_init__(self) -> None:
        if self.count < 0:
            raise ValueError(f"count must be >= 0, got {self.count}")
        if not 0 <= self.dev_fraction < 1:
            raise ValueError(f"dev_fraction must be in [0, 1), got {self.dev_fraction}")


def plan_requests(config: BenignRequestsConfig) -> list[dict]:
    """{"split", "topic", "opening"} rows: every topic and opening used about equally."""
    rng = random.Random(config.seed)
    rows = []
    for index in range(config.count):
        split = "dev" if rng.random() < config.dev_fraction else "train"
        rows.append(
            {
                "split": split,
                "topic": ALL_TOPICS[index % len(ALL_TOPICS)],
                "opening": OPENINGS[(index // len(ALL_TOPICS) + index) % len(OPENINGS)],
            }
        )
    return rows


def request_prompt(topic: str) -> str:
    return f"Ask me a question about {topic}."


def clean_request(opening: str, continuation: str) -> str | None:
    """The opening and the first sentence of the continuation; None for assistant talk, a
    refusal, or a continuation of fewer than three words ("How do I fix it?")."""
    text = continuation.strip().split("\n", 1)[0]
    match = re.search(r"[.?!]", text)
    if match:
        text = text[: match.end()]
    request = f"{opening} {text}".strip()
    request = re.sub(r"\s+", " ", request).replace(" ,", ",").replace(" :", ":")
    if len(text.split()) < 3 or ASSISTANT_SPEAK.search(request) or is_refusal(text):
        return None
    return request


def cache_path(rows: list[dict], config: BenignRequestsConfig) -> Path:
    settings = ("model", "max_new_tokens", "temperature", "top_p", "seed")
    return keyed_cache_path("benign-requests", config, settings, rows)


def generate_requests(
    rows: list[dict],
    config: BenignRequestsConfig,
    loaded: LoadedModel | None = None,
    journal: Path | None = None,
) -> list[dict]:
    """The LM's continuation of each planned opening (sampled, batched); rows gain "output".
    With `journal`, batches are recorded as they finish and the ones recorded before reused."""
    loaded = loaded or load_model(config.model, dtype=config.dtype)
    outputs = generate(
        loaded,
        [request_prompt(row["topic"]) for row in rows],
        GenerationConfig(
            max_new_tokens=config.max_new_tokens,
            temperature=config.temperature,
            top_p=config.top_p,
            batch_size=config.batch_size,
            seed=config.seed,
        ),
        assistant_prefixes=[row["opening"] for row in rows],
        progress=len(rows) > 50,
        journal=journal,
        resume=journal is not None,
    )
    return [{**row, "output": out[0].output} for row, out in zip(rows, outputs, strict=True)]


def benign_requests(
    config: BenignRequestsConfig, loaded: LoadedModel | None = None
) -> dict[str, list[Sample]]:
    """Benign request samples per split ("train", "dev"), from the cache when present; a text
    in both splits stays in train only."""
    out: dict[str, list[Sample]] = {"train": [], "dev": []}
    if not config.enabled or config.count == 0:
        return out
    plan = plan_requests(config)
    rows = cached_rows(
        cache_path(plan, config),
        lambda journal: generate_requests(plan, config, loaded, journal=journal),
        "benign requests",
    )
    seen: set[str] = set()
    for split in ("train", "dev"):
        for row in rows:
            request = clean_request(row["opening"], row["output"])
            if row["split"] != split or request is None or request.lower() in seen:
                continue
            seen.add(request.lower())
            out[split].append(
                Sample(
                    prompt=request,
                    prompt_harmful=False,
                    taxonomy="coarse",
                    source=BENIGN_REQUESTS_SOURCE,
                    id=f"{BENIGN_REQUESTS_SOURCE}:{hashlib.sha256(request.encode()).hexdigest()[:12]}",
                    metadata={"topic": row["topic"], "opening": row["opening"]},
                )
            )
    return out
