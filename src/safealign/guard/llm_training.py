"""LoRA fine-tuning of the LLM guard, teaching it to follow the category list it is given.

Per example and per epoch, the category list is shuffled (so letters carry no fixed meaning) and
each category is dropped with some probability. A harmful example whose known categories were
all dropped becomes "safe": the model learns that only the listed categories count, which is
what lets callers change or extend the list at inference. The target is the answer text
("safe", or "unsafe\\n<letters>"), scored by the log-probs of its tokens only.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from safealign.data.schema import Message
from safealign.guard.examples import GuardExample
from safealign.guard.llm_guard import LLMGuard
from safealign.guard.llm_prompt import QUESTIONS, category_codes, guard_prompt
from safealign.models.logprobs import (
    batch_sequence_logprobs,
    collate_pairs,
    tokenize_prompt_response,
)


@dataclass
class LLMGuardTrainConfig:
    """LoRA training of an LLM guard (defaults sized for the embedded SmolLM2 on CPU)."""

    lora_rank: int = 8
    """Rank of the LoRA adapters; 0 fine-tunes every weight (tiny models, tests)."""
    lora_alpha: int = 16
    """LoRA scaling numerator."""
    target_modules: list[str] = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"]
    )
    """Module names to adapt (Llama-style attention projections by default)."""
    epochs: int = 1
    """Passes over the examples (each pass redraws the category shuffles and drops)."""
    batch_size: int = 8
    """Examples per step."""
    learning_rate: float = 5e-4
    """AdamW learning rate."""
    drop_probability: float = 0.25
    """Chance that each category is left out of an example's prompt."""
    max_length: int = 512
    """Tokens per training sequence (the prompt's start is cut first)."""
    seed: int = 0
    """Seed for shuffles, drops and initialisation."""


@dataclass(frozen=True)
class GuardTrainingItem:
    """One (prompt, target) pair after category shuffling and dropping."""

    prompt: str
    target: str
    positive: bool


def training_items(
    examples: Sequence[GuardExample],
    categories: Sequence[str],
    drop_probability: float,
    rng: random.Random,
) -> list[GuardTrainingItem]:
    """One item per labelled question of each example, with a freshly shuffled, thinned list."""
    items = []
    for example in examples:
        turns = example.turns
        for name, value in (
            ("prompt", example.prompt_harmful if example.response is None else None),
            ("response", example.response_harmful),
            ("refusal", example.refusal),
        ):
            if value is None or (name != "prompt" and example.response is None):
                continue
            question = QUESTIONS[name]
            shown = [c for c in categories if rng.random() >= drop_probability]
            rng.shuffle(shown)
            target, positive = _target(question, bool(value), example.categories, shown)
            items.append(GuardTrainingItem(guard_prompt(turns, question, shown), target, positive))
    return items


def _target(
    question, value: bool, violated: list[str] | None, shown: list[str]
) -> tuple[str, bool]:
    if not question.uses_categories:
        return (question.positive if value else question.negative), value
    if not value:
        return question.negative, False
    if violated is None:  # categories unknown: the label stands, no letters to teach
        return question.positive, True
    codes = dict(zip(shown, category_codes(shown), strict=True))
    letters = [codes[c] for c in violated if c in codes]
    if not letters:  # every violated category was left off the list: safe under this list
        return question.negative, False
    return f"{question.positive}\n{','.join(sorted(letters))}", True


def train_llm_guard(
    guard: LLMGuard, examples: Sequence[GuardExample], config: LLMGuardTrainConfig | None = None
) -> list[float]:
    """Attach LoRA to the guard's model and train it in place; returns the loss per step."""
    from peft import LoraConfig, get_peft_model  # heavy: only when training

    config = config or LLMGuardTrainConfig()
    rng = random.Random(config.seed)
    torch.manual_seed(config.seed)
    loaded = guard.loaded
    if config.lora_rank > 0 and not hasattr(loaded.model, "peft_config"):
        loaded.model = get_peft_model(
            loaded.model,
            LoraConfig(
                r=config.lora_rank,
                lora_alpha=config.lora_alpha,
                lora_dropout=0.0,
                target_modules=list(config.target_modules),
                task_type="CAUSAL_LM",
            ),
        )
    model = loaded.model
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=config.learning_rate
    )
    pad_id = loaded.tokenizer.pad_token_id
    losses: list[float] = []
    model.train()
    for _ in range(config.epochs):
        items = training_items(examples, guard.config.categories, config.drop_probability, rng)
        rng.shuffle(items)
        for start in tqdm(
            range(0, len(items), config.batch_size), desc="llm guard train", unit="step"
        ):
            chunk = items[start : start + config.batch_size]
            pairs = [
                tokenize_prompt_response(
                    loaded.tokenizer,
                    [_user(item.prompt)],
                    item.target,
                    max_prompt_length=config.max_length - 16,
                    end_with_eos=False,
                )
                for item in chunk
            ]
            batch = {k: v.to(loaded.device) for k, v in collate_pairs(pairs, pad_id).items()}
            logps = batch_sequence_logprobs(model, **batch)
            loss = -(logps.sum / logps.num_tokens.clamp(min=1)).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
    model.eval()
    return losses


def _user(text: str):

    return Message("user", text)
