"""Open guard models behind the one Verdict: `load_guard("hub:<id>")`.

Each family (hub_formats.py) is read with its own published prompt, and every probability comes
from the label tokens' logits, never from sampled text: P(unsafe) = softmax over the first
tokens of the family's two answers at the position where the model writes its verdict. Category
probabilities are read the same way at the position after the "unsafe" line (Llama Guard,
NemoGuard), from one call per policy (ShieldGemma, Granite Guardian), or from the category list
Qwen3Guard writes; each is multiplied by P(unsafe) and mapped onto the coarse classes.

When two answers share a first token (a byte-level tokenizer, WildGuard's " yes" / " no"), the
whole answers are scored as continuations instead (sum of token log-probs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from safealign.errors import ConfigError
from safealign.guard.calibration import in_band
from safealign.guard.hub_formats import (
    FAMILIES,
    GRANITE_RISKS,
    LLAMA_GUARD_3_WRAP,
    LLAMA_GUARD_4_WRAP,
    QWEN3GUARD_SEVERITIES,
    SHIELDGEMMA_POLICIES,
    WILDGUARD_FIELDS,
    Family,
    coarse_scores,
    family_of,
    granite_prompt,
    llama_guard_prompt,
    nemoguard_prompt,
    shieldgemma_prompt,
    wildguard_prompt,
)
from safealign.guard.verdict import (
    ConversationInput,
    LabelScore,
    Turns,
    Verdict,
    split_conversation,
)
from safealign.models import load_model
from safealign.models.loading import LoadedModel
from safealign.models.logprobs import next_token_logits


@dataclass
class HubGuardConfig:
    """How a hub guard is asked and decides."""

    model: str = field(
        default="", metadata={"help": "Hub id or local folder of the guard checkpoint."}
    )
    family: str | None = field(
        default=None, metadata={"help": "Guard family (None: recognised from the id)."}
    )
    threshold: float = field(
        default=0.5, metadata={"help": "P(unsafe) at or above which a verdict is harmful."}
    )
    review_band: list[float] = field(
        default_factory=lambda: [0.3, 0.7],
        metadata={"help": "[low, high] P(unsafe) band marked needs_review."},
    )
    category_threshold: float = field(
        default=0.3, metadata={"help": "Flag a category when its probability reaches this."}
    )
    batch_size: int = field(default=4, metadata={"help": "Prompts per forward pass."})
    dtype: str = field(default="bfloat16", metadata={"help": "Model dtype."})
    use_chat_template: bool = field(
        default=True,
        metadata={
            "help": "Render through the checkpoint's own chat template where the family's "
            "prompt lives there (Llama Guard 4, Qwen3Guard, Granite Guardian)."
        },
    )


class HubGuard:
    """A published guard model; `classify(conversations, categories=...)` returns Verdicts."""

    def __init__(self, loaded: LoadedModel, config: HubGuardConfig) -> None:
        self.loaded = loaded
        self.config = config
        self._custom: dict[str, str] = {}
        """Custom policy name -> description for the current call (policy families)."""
        self.family: Family = (
            FAMILIES[config.family] if config.family else family_of(config.model or loaded.name)
        )

    @classmethod
    def from_spec(cls, spec: str, dtype: str = "bfloat16") -> HubGuard:
        """`<id>` or `<family>=<id or folder>` (the family named when the id does not say it)."""
        family, _, model = spec.rpartition("=") if "=" in spec else (None, "", spec)
        if family is not None and family not in FAMILIES:
            raise ConfigError(f'unknown guard family "{family}". Known: {", ".join(FAMILIES)}.')
        config = HubGuardConfig(model=model, family=family or None, dtype=dtype)
        return cls(load_model(model, dtype=dtype), config)

    # -- prompts ----------------------------------------------------------------------------

    def render(self, turns: Turns, category: str | None = None) -> str:
        """The family's prompt for one conversation (and one policy, for per-policy families)."""
        name = self.family.name
        if name in ("llama-guard-3", "llama-guard-4"):
            categories = self._category_map(category)
            if name == "llama-guard-4" and self._has_template("<|header_start|>"):
                return self._chat_template(turns, categories=categories)
            wrap = LLAMA_GUARD_3_WRAP if name == "llama-guard-3" else LLAMA_GUARD_4_WRAP
            return llama_guard_prompt(turns, categories, wrap)
        if name == "shieldgemma":
            return shieldgemma_prompt(turns, category, self._policy(category))
        if name == "granite-guardian":
            if self._has_template("guardian_config"):
                risk = {"risk_name": category}
                if category not in GRANITE_RISKS:
                    risk["risk_definition"] = self._policy(category)
                return self._chat_template(turns, guardian_config=risk)
            return granite_prompt(turns, self._policy(category))
        if name == "wildguard":
            return wildguard_prompt(turns)
        if name == "nemoguard":
            return nemoguard_prompt(turns, self._category_map(category))
        if name == "qwen3guard":
            return self._chat_template(turns)
        raise ConfigError(f"no prompt for guard family {name}")

    def _category_map(self, custom) -> dict[str, str]:
        if isinstance(custom, dict):
            return custom
        return dict(self.family.categories)

    def _policy(self, name: str) -> str:
        if self.family.name == "shieldgemma":
            return self._custom.get(name) or SHIELDGEMMA_POLICIES[name]
        return self._custom.get(name) or GRANITE_RISKS[name]

    def _has_template(self, marker: str) -> bool:
        template = self.loaded.chat_template or ""
        return self.config.use_chat_template and marker in template

    def _chat_template(self, turns: Turns, **kwargs) -> str:
        messages = [{"role": m.role, "content": m.content} for m in turns.context]
        messages.append({"role": "user", "content": turns.prompt})
        if turns.response is not None:
            messages.append({"role": "assistant", "content": turns.response})
        if self.family.name == "llama-guard-4":  # its template reads typed content parts
            messages = [
                {"role": m["role"], "content": [{"type": "text", "text": m["content"]}]}
                for m in messages
            ]
        return self.loaded.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True, **kwargs
        )

    # -- scoring ----------------------------------------------------------------------------

    def choice_probabilities(self, prompts: Sequence[str], choices: Sequence[str]) -> Tensor:
        return choice_probabilities(self.loaded, prompts, choices, self.config.batch_size)

    def classify(
        self,
        conversations: Sequence[ConversationInput],
        categories: Sequence[str] | dict[str, str] | None = None,
    ) -> list[Verdict]:
        """Judge each conversation; `categories` replaces the family's list where the model
        reads categories from its prompt (names, or name -> description for policy models)."""
        turns = [split_conversation(c) for c in conversations]
        if not turns:
            return []
        names = self._categories(categories)
        name = self.family.name
        if name == "wildguard":
            return [self._wildguard(t) for t in turns]
        if name in ("shieldgemma", "granite-guardian"):
            return self._per_policy(turns, names)
        return self._list_family(turns, names)

    def _categories(self, categories) -> list[str]:
        self._custom = {}
        if categories is None:
            return list(self.family.categories)
        if not self.family.custom_categories:
            raise ConfigError(
                f"{self.family.name} has a fixed category list; custom categories are not read "
                f"by the model. Its categories: {', '.join(self.family.categories) or 'none'}."
            )
        if isinstance(categories, dict):
            self._custom = dict(categories)
            return list(categories)
        return list(categories)

    def _list_family(self, turns: list[Turns], names: list[str]) -> list[Verdict]:
        """Llama Guard, NemoGuard, Qwen3Guard: one prompt lists every category; P(unsafe) is
        read where the verdict is written, the categories where their list starts."""
        family = self.family
        custom = None
        if names != list(family.categories):
            custom = {f"S{i + 1}": n for i, n in enumerate(names)}
        codes = list(custom or family.categories)
        labels = [(custom or family.categories)[c] for c in codes]
        prompts = [self.render(t, custom) for t in turns]
        if family.name == "nemoguard":
            p_prompt, p_judged, heads = self._nemoguard(prompts, turns)
            after = [h + 'unsafe", "Safety Categories": "' for h in heads]
            given = self.choice_probabilities(after, labels)
        elif family.name == "qwen3guard":
            heads = [p + "Safety:" for p in prompts]
            severity = self.choice_probabilities(heads, [f" {s}" for s in QWEN3GUARD_SEVERITIES])
            p_prompt = p_judged = severity[:, 1] + severity[:, 2]  # strict: Controversial counts
            after = [h + " Unsafe\nCategories:" for h in heads]
            given = self.choice_probabilities(after, [f" {c}" for c in labels])
        else:  # Llama Guard: "unsafe\nS<k>"
            p_prompt = p_judged = self.choice_probabilities(prompts, ["safe", "unsafe"])[:, 1]
            after = [p + "unsafe\nS" for p in prompts]
            given = self.choice_probabilities(after, [c.removeprefix("S") for c in codes])
        verdicts = []
        for i, t in enumerate(turns):
            judged = float(p_judged[i])
            scores = {labels[j]: judged * float(given[i, j]) for j in range(len(codes))}
            keyed = {codes[j]: scores[labels[j]] for j in range(len(codes))}
            coarse_keys = codes if family.name != "qwen3guard" else labels
            by_key = keyed if family.name != "qwen3guard" else scores
            coarse = coarse_scores(family, by_key, coarse_keys) if custom is None else {}
            verdicts.append(self._verdict(t, float(p_prompt[i]), judged, scores, coarse))
        return verdicts

    def _nemoguard(self, prompts: list[str], turns: list[Turns]):
        """NemoGuard's JSON, teacher-forced: "User Safety", then "Response Safety" when there
        is an answer; returns P(user unsafe), P(judged unsafe) and the text up to the last
        rating (to read the categories after)."""
        heads = [p + '{"User Safety": "' for p in prompts]
        p_user = self.choice_probabilities(heads, ["safe", "unsafe"])[:, 1]
        p_judged = p_user.clone()
        answered = [i for i, t in enumerate(turns) if t.response is not None]
        if answered:
            for i in answered:
                rating = "unsafe" if p_user[i] >= 0.5 else "safe"
                heads[i] += rating + '", "Response Safety": "'
            p_response = self.choice_probabilities([heads[i] for i in answered], ["safe", "unsafe"])
            p_judged[answered] = p_response[:, 1]
        return p_user, p_judged, heads

    def _per_policy(self, turns: list[Turns], names: list[str]) -> list[Verdict]:
        """ShieldGemma and Granite Guardian: one call per policy; harm = the highest."""
        negative, positive = self.family.labels
        per = torch.stack(
            [
                self.choice_probabilities([self.render(t, n) for t in turns], [negative, positive])[
                    :, 1
                ]
                for n in names
            ],
            dim=1,
        )
        verdicts = []
        for i, t in enumerate(turns):
            scores = {n: float(per[i, j]) for j, n in enumerate(names)}
            judged = max(scores.values())
            coarse = coarse_scores(self.family, scores, [n for n in names if n not in self._custom])
            verdicts.append(self._verdict(t, judged, judged, scores, coarse))
        return verdicts

    def _wildguard(self, turns: Turns) -> Verdict:
        """Teacher-forced three answers: each question read after the previous answers."""
        text = self.render(turns)
        answers: dict[str, float] = {}
        for key, label in WILDGUARD_FIELDS:
            if key != "prompt" and turns.response is None:
                break
            text += ("" if key == "prompt" else "\n") + label
            p_yes = float(self.choice_probabilities([text], [" no", " yes"])[0, 1])
            answers[key] = p_yes
            text += " yes" if p_yes >= 0.5 else " no"
        threshold = self.config.threshold
        verdict = Verdict(
            prompt_harmful=LabelScore(answers["prompt"], answers["prompt"] >= threshold),
            taxonomy="wildguard",
        )
        if turns.response is not None:
            verdict.response_harmful = LabelScore(
                answers["response"], answers["response"] >= threshold
            )
            verdict.refusal = LabelScore(answers["refusal"], answers["refusal"] >= threshold)
        judged = answers["response" if turns.response is not None else "prompt"]
        verdict.needs_review = in_band(judged, self.config.review_band)
        return verdict

    def _verdict(
        self,
        turns: Turns,
        p_prompt: float,
        p_judged: float,
        scores: dict[str, float],
        coarse: dict[str, float],
    ) -> Verdict:
        threshold = self.config.threshold
        has_response = turns.response is not None
        harmful = p_judged >= threshold
        return Verdict(
            prompt_harmful=LabelScore(p_prompt, p_prompt >= threshold)
            if not has_response
            else None,
            response_harmful=LabelScore(p_judged, harmful) if has_response else None,
            categories=scores,
            coarse_categories=coarse,
            flagged_categories=[
                n for n, p in scores.items() if harmful and p >= self.config.category_threshold
            ],
            needs_review=in_band(p_judged, self.config.review_band),
            taxonomy=self.family.name if not self._custom else "custom",
        )


@torch.inference_mode()
def choice_probabilities(
    loaded: LoadedModel, prompts: Sequence[str], choices: Sequence[str], batch_size: int = 4
) -> Tensor:
    """[n, k] probability of each choice as the model's next words after each prompt,
    normalised over the choices: from the choices' first-token logits when those differ, else
    from whole-continuation log-probs."""
    first = [tail_ids(loaded.tokenizer, prompts[0], c)[0] for c in choices]
    if len(set(first)) == len(first):
        logits = next_token_logits(loaded, list(prompts), batch_size=batch_size)
        stacked = torch.stack([row[first] for row in logits])
        return torch.softmax(stacked.double(), dim=-1)
    scores = torch.empty(len(prompts), len(choices), dtype=torch.float64)
    for j, choice in enumerate(choices):
        scores[:, j] = continuation_logprobs(loaded, prompts, choice)
    return torch.softmax(scores, dim=-1)


def continuation_logprobs(loaded: LoadedModel, prompts: Sequence[str], continuation: str) -> Tensor:
    """Sum of the continuation's token log-probs after each prompt."""
    tokenizer, model = loaded.tokenizer, loaded.model
    out = torch.empty(len(prompts), dtype=torch.float64)
    for i, prompt in enumerate(prompts):
        head = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        tail = tail_ids(tokenizer, prompt, continuation)
        ids = torch.tensor([head + tail], device=loaded.device)
        logps = torch.log_softmax(model(input_ids=ids).logits[0].double(), dim=-1)
        positions = torch.arange(len(head) - 1, len(head) + len(tail) - 1)
        out[i] = logps[positions, torch.tensor(tail)].sum().cpu()
    return out


def tail_ids(tokenizer, prompt: str, continuation: str) -> list[int]:
    """Token ids of `continuation` as the tokenizer splits it after `prompt` (SentencePiece
    tokenizers add a word-start mark to a string tokenized alone)."""
    head = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    full = tokenizer(prompt + continuation, add_special_tokens=False)["input_ids"]
    if full[: len(head)] == head and len(full) > len(head):
        return full[len(head) :]
    return tokenizer(continuation, add_special_tokens=False)["input_ids"]
