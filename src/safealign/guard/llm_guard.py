"""The LLM guard: any causal LM, categories chosen per call, verdicts read from label tokens.

For each question (prompt harm, response harm, refusal) the guard opens the assistant turn and
reads the next-token distribution: P(positive) = p(pos) / (p(pos) + p(neg)) over the first tokens
of the two answers. If neither answer is the model's most likely next token, its output would be
malformed: the verdict says so in `parse_error` and, by default, the label fails closed (unsafe),
never "safe". Category scores come from a second read after "unsafe\\n": the distribution over the
category letters, times P(unsafe).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from safealign.config import load_saved_config
from safealign.data.schema import Message
from safealign.errors import ConfigError, ModelLoadError
from safealign.guard.calibration import in_band
from safealign.guard.llm_prompt import QUESTIONS, Question, category_codes, guard_prompt
from safealign.guard.verdict import (
    ConversationInput,
    LabelScore,
    Turns,
    Verdict,
    split_conversation,
)
from safealign.io import atomic_path
from safealign.models import load_model
from safealign.models.chat import render_prompt
from safealign.models.loading import LoadedModel
from safealign.models.logprobs import next_token_logits

CONFIG_FILE = "llm_guard_config.json"
DEFAULT_CATEGORIES = [
    "Violence",
    "Weapons",
    "Crime",
    "Cyber",
    "Sexual",
    "Child Safety",
    "Hate and Harassment",
    "Self-Harm",
    "Privacy",
    "Deception",
    "Regulated Substances",
    "Intellectual Property",
    "Specialized Advice",
    "Other",
]


@dataclass
class LLMGuardConfig:
    """How an LLM guard asks and decides (saved beside a trained adapter)."""

    model: str = "embedded"
    """Causal LM spec: "embedded", a checkpoint folder, or a hub id."""
    categories: list[str] = field(default_factory=lambda: list(DEFAULT_CATEGORIES))
    """Default category list shown in the prompt (callers may pass their own per call)."""
    taxonomy: str = "coarse"
    """Name recorded in verdicts for the default categories."""
    questions: list[str] = field(default_factory=lambda: ["prompt", "response", "refusal"])
    """Which questions to ask (response and refusal only when there is a response)."""
    thresholds: dict[str, float] = field(default_factory=dict)
    """Probability threshold per question (0.5 when absent)."""
    review_band: list[float] = field(
        default_factory=lambda: [0.3, 0.7],
        metadata={"help": "[low, high] judged probability band marked needs_review."},
    )
    category_threshold: float = 0.3
    """Flag a category when P(its letter | unsafe) reaches this."""
    on_parse_error: str = "unsafe"
    """Label when the model would not answer with a label: "unsafe" (fail closed) or "none"."""
    batch_size: int = 8
    """Conversations per forward pass."""
    max_message_chars: int = 2000
    """Longer messages are cut (keeping their start) to bound prompt length."""
    dtype: str = "float32"
    """Model dtype ("auto" = bf16 where the CPU supports it)."""


class LLMGuard:
    """A guard over a causal LM; `classify(conversations, categories=...)` judges batches."""

    def __init__(self, loaded: LoadedModel, config: LLMGuardConfig | None = None) -> None:
        self.loaded = loaded
        self.config = config or LLMGuardConfig()
        if self.config.on_parse_error not in ("unsafe", "none"):
            raise ConfigError('on_parse_error must be "unsafe" or "none"')
        unknown = sorted(set(self.config.questions) - set(QUESTIONS))
        if unknown:
            raise ConfigError(f"unknown guard question(s) {unknown}; known: {sorted(QUESTIONS)}")
        self._label_ids = {q.name: self._answer_ids(q) for q in QUESTIONS.values()}

    # -- loading and saving -----------------------------------------------------------------

    @classmethod
    def from_spec(cls, spec: str = "embedded", config: LLMGuardConfig | None = None) -> LLMGuard:
        """A guard over a model spec, or over a folder saved by `save` (base model + adapter)."""
        path = Path(spec)
        if (path / CONFIG_FILE).is_file():
            saved = load_saved_config(LLMGuardConfig, path / CONFIG_FILE)
            loaded = load_model(saved.model, dtype=saved.dtype)
            from peft import PeftModel  # heavy: only for saved adapters

            loaded.model = PeftModel.from_pretrained(loaded.model, str(path)).merge_and_unload()
            loaded.model.eval()
            return cls(loaded, saved)
        config = config or LLMGuardConfig(model=spec)
        return cls(load_model(spec, dtype=config.dtype), config)

    def save(self, path: str | Path) -> Path:
        """Save the LoRA adapter (the model must carry one) and the guard config, atomically."""
        if not hasattr(self.loaded.model, "peft_config"):
            raise ModelLoadError(
                "only a LoRA-trained LLM guard can be saved (the base model is a spec)"
            )
        with atomic_path(path) as staged:
            self.loaded.model.save_pretrained(str(staged))
            (staged / CONFIG_FILE).write_text(json.dumps(asdict(self.config), indent=2) + "\n")
        return Path(path)

    # -- judging ------------------------------------------------------------------------------

    def classify(
        self,
        conversations: Sequence[ConversationInput],
        categories: Sequence[str] | None = None,
        taxonomy: str | None = None,
    ) -> list[Verdict]:
        """Judge each conversation against `categories` (default: the config's list)."""
        categories = list(categories) if categories is not None else list(self.config.categories)
        category_codes(categories)
        taxonomy = taxonomy or (
            self.config.taxonomy if categories == self.config.categories else "custom"
        )
        turns = [self._trimmed(split_conversation(c)) for c in conversations]
        verdicts = [Verdict(taxonomy=taxonomy) for _ in turns]
        for name in self.config.questions:
            question = QUESTIONS[name]
            asked = [i for i, t in enumerate(turns) if name == "prompt" or t.response is not None]
            if not asked:
                continue
            prompts = [guard_prompt(turns[i], question, categories) for i in asked]
            probabilities, malformed = self.answer_probabilities(prompts, question)
            code_probs = (
                self.category_probabilities(prompts, question.positive, len(categories))
                if question.uses_categories and categories
                else None
            )
            for row, index in enumerate(asked):
                self._record(verdicts[index], question, float(probabilities[row]), malformed[row])
                if code_probs is not None and (name == "response" or turns[index].response is None):
                    self._record_categories(
                        verdicts[index], categories, float(probabilities[row]), code_probs[row]
                    )
        for verdict in verdicts:
            judged = verdict.response_harmful or verdict.prompt_harmful
            verdict.needs_review = judged is not None and in_band(
                judged.probability, self.config.review_band
            )
        return verdicts

    @torch.inference_mode()
    def answer_probabilities(
        self, prompts: Sequence[str], question: Question
    ) -> tuple[torch.Tensor, list[str | None]]:
        """P(positive answer) per prompt, and why the output would be malformed (None if fine)."""
        negative, positive = self._label_ids[question.name]
        probs, errors = [], []
        for logits in self._next_token_logits(prompts, prefix=None):
            p = torch.softmax(logits.float(), dim=-1)
            pair = p[negative] + p[positive]
            probs.append(p[positive] / pair.clamp(min=1e-30))
            top = int(p.argmax())
            errors.append(
                None
                if top in (negative, positive)
                else f"model would answer {self.loaded.tokenizer.decode([top])!r}, not "
                f"{question.negative!r}/{question.positive!r} (label mass {float(pair):.3f})"
            )
        return torch.stack(probs), errors

    @torch.inference_mode()
    def category_probabilities(
        self, prompts: Sequence[str], positive: str, count: int
    ) -> torch.Tensor:
        """P(category letter | the answer began "<positive>\\n"), one row per prompt."""
        ids = self._code_ids(count)
        rows = [
            torch.softmax(logits.float()[ids], dim=-1)
            for logits in self._next_token_logits(prompts, f"{positive}\n")
        ]
        return torch.stack(rows)

    def training_text(self, prompt: str, prefix: str | None = None) -> str:
        """The exact model input for a guard prompt (shared with training)."""
        return render_prompt(
            self.loaded.tokenizer, [Message("user", prompt)], assistant_prefix=prefix
        )

    # -- internals ------------------------------------------------------------------------------

    def _next_token_logits(self, prompts: Sequence[str], prefix: str | None) -> list[Tensor]:
        texts = [self.training_text(p, prefix) for p in prompts]
        return next_token_logits(self.loaded, texts, batch_size=self.config.batch_size)

    def _record(
        self, verdict: Verdict, question: Question, probability: float, error: str | None
    ) -> None:
        threshold = self.config.thresholds.get(question.name, 0.5)
        label: bool | None = probability >= threshold
        if error is not None:
            label = (
                True
                if self.config.on_parse_error == "unsafe" and question.positive == "unsafe"
                else None
            )
            verdict.parse_error = (
                f"{question.name}: {error}"
                if verdict.parse_error is None
                else (f"{verdict.parse_error}; {question.name}: {error}")
            )
        score = LabelScore(probability, label)
        setattr(
            verdict,
            {"prompt": "prompt_harmful", "response": "response_harmful"}.get(
                question.name, question.name
            ),
            score,
        )

    def _record_categories(
        self, verdict: Verdict, categories: list[str], p_unsafe: float, codes: torch.Tensor
    ) -> None:
        verdict.categories = {name: p_unsafe * float(codes[i]) for i, name in enumerate(categories)}
        if p_unsafe >= self.config.thresholds.get(
            "response" if verdict.response_harmful else "prompt", 0.5
        ):
            verdict.flagged_categories = [
                name
                for i, name in enumerate(categories)
                if float(codes[i]) >= self.config.category_threshold
            ]

    def _answer_ids(self, question: Question) -> tuple[int, int]:
        tokenizer = self.loaded.tokenizer
        negative = tokenizer(question.negative, add_special_tokens=False)["input_ids"][0]
        positive = tokenizer(question.positive, add_special_tokens=False)["input_ids"][0]
        if negative == positive:
            raise ModelLoadError(
                f"this tokenizer starts {question.negative!r} and {question.positive!r} with the "
                "same "
                "token, so the guard cannot read its answer from one token"
            )
        return negative, positive

    def _code_ids(self, count: int) -> list[int]:
        tokenizer = self.loaded.tokenizer
        return [
            tokenizer(code, add_special_tokens=False)["input_ids"][0]
            for code in category_codes([""] * count)
        ]

    def _trimmed(self, turns: Turns) -> Turns:
        cut = self.config.max_message_chars
        return Turns(
            [Message(m.role, m.content[:cut]) for m in turns.context],
            turns.prompt[:cut],
            None if turns.response is None else turns.response[:cut],
        )
