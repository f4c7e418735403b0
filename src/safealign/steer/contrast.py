"""Building a steering vector from contrast pairs: read activations, take differences, aggregate.

A contrast pair is one question with an unsafe and a safe answer. Each side is rendered with
the model's chat template as a demonstration (question, then the answer inside the assistant
turn), every decoder layer's output is read at the end of the answer, and the per-pair
difference (safe - unsafe) is aggregated into one vector per layer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from safealign.models import LoadedModel, render_prompt
from safealign.steer.steering_vector import ModelFingerprint, SteeringVector


@dataclass(frozen=True)
class ContrastPair:
    """A question with an unsafe and a safe answer (both taken from data, never written here)."""

    question: str
    unsafe_answer: str
    safe_answer: str
    source: str = ""


Aggregator = Callable[[Tensor], Tensor]
"""(pairs, layers, hidden) differences -> (layers, hidden) vector."""


def mean_difference(differences: Tensor) -> Tensor:
    """The average safe - unsafe difference, per layer."""
    return differences.mean(dim=0)


def first_principal_direction(differences: Tensor) -> Tensor:
    """The in-context safety vector: the first principal direction of the per-pair differences,
    all layers concatenated (so layers share one direction in the joint space), reshaped per
    layer. It is the top right-singular vector of the uncentred differences, so a shift shared
    by every pair (what steering needs) is what it captures; its sign is set to agree with the
    mean difference and its length is the mean projection of the differences on it, so alpha
    has the same units as for the mean difference."""
    pairs, layers, hidden = differences.shape
    flat = differences.reshape(pairs, layers * hidden).double()
    _, _, right = torch.linalg.svd(flat, full_matrices=False)
    direction = right[0]
    projection = flat @ direction
    if projection.mean() < 0:
        direction, projection = -direction, -projection
    return (projection.mean() * direction).reshape(layers, hidden).to(differences.dtype)


AGGREGATORS: dict[str, Aggregator] = {
    "mean-difference": mean_difference,
    "icv": first_principal_direction,
}


def read_position_name(last_k: int) -> str:
    return "last" if last_k == 1 else f"mean-last-{last_k}"


@torch.inference_mode()
def answer_activations(
    loaded: LoadedModel,
    questions: Sequence[str],
    answers: Sequence[str],
    *,
    last_k: int = 1,
    max_answer_tokens: int = 8,
    batch_size: int = 8,
) -> Tensor:
    """Every decoder layer's output averaged over the last `last_k` tokens of each demonstration
    (question + answer in the chat template); shape (n, layers, hidden), float32.

    Answers are cut to `max_answer_tokens`: an answer's opening is where it refuses or
    complies, while the end of a long answer mostly encodes its topic."""
    tokenizer = loaded.tokenizer
    texts = []
    for question, answer in zip(questions, answers, strict=True):
        ids = tokenizer(answer, add_special_tokens=False)["input_ids"][:max_answer_tokens]
        texts.append(render_prompt(tokenizer, question, assistant_prefix=tokenizer.decode(ids)))
    rows = []
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(
            texts[start : start + batch_size],
            return_tensors="pt",
            padding=True,
            add_special_tokens=False,
        ).to(loaded.device)
        output = loaded.model(**batch, output_hidden_states=True, use_cache=False)
        # hidden_states[0] is the embedding output; [i + 1] is decoder layer i's output.
        layers = torch.stack(output.hidden_states[1:], dim=1).float()  # (b, L, seq, H)
        mask = batch["attention_mask"][:, -last_k:].float()  # left padded: text ends at -1
        window = layers[:, :, -last_k:, :] * mask[:, None, :, None]
        rows.append(window.sum(dim=2) / mask.sum(dim=1).clamp_min(1)[:, None, None])
    return torch.cat(rows).cpu()


def build_steering_vector(
    loaded: LoadedModel,
    pairs: Sequence[ContrastPair],
    *,
    method: str = "icv",
    last_k: int = 1,
    max_answer_tokens: int = 8,
    batch_size: int = 8,
    source: str = "",
) -> SteeringVector:
    """A steering vector pointing from unsafe towards safe answers (add it to steer to safety)."""
    if method not in AGGREGATORS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(AGGREGATORS)}")
    if len(pairs) < 2:
        raise ValueError(f"need at least 2 contrast pairs, got {len(pairs)}")
    questions = [p.question for p in pairs]
    kwargs = {"last_k": last_k, "max_answer_tokens": max_answer_tokens, "batch_size": batch_size}
    safe = answer_activations(loaded, questions, [p.safe_answer for p in pairs], **kwargs)
    unsafe = answer_activations(loaded, questions, [p.unsafe_answer for p in pairs], **kwargs)
    vectors = AGGREGATORS[method](safe - unsafe)
    return SteeringVector(
        layer_vectors={i: vectors[i].clone() for i in range(vectors.shape[0])},
        model=loaded.name,
        fingerprint=ModelFingerprint.of(loaded.model),
        method=method,
        read_position=read_position_name(last_k),
        source=source,
        num_pairs=len(pairs),
        extra={"max_answer_tokens": max_answer_tokens},
    )
