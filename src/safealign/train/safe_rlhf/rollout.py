"""Rollouts: training prompts, sampled responses as token tensors, and their scores.

The policy samples through the project's batched `generate`; each response text is then
tokenized the way the trainer tokenizes every prompt+response (`tokenize_prompt_response`), so
the log-probs PPO compares are those of the exact token sequence it trains on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from safealign.data.schema import Sample
from safealign.errors import ConfigError
from safealign.models import GenerationConfig, LoadedModel, generate
from safealign.models.chat import as_messages
from safealign.models.logprobs import collate_pairs, tokenize_prompt_response
from safealign.train.pairs import read_samples
from safealign.train.safe_rlhf.config import SafeRLHFConfig
from safealign.train.safe_rlhf.scorers import Scorer


@dataclass
class Rollout:
    """One iteration's sampled responses, as token tensors (right padded) plus scores."""

    prompts: list[Sample]
    responses: list[str]
    input_ids: Tensor
    attention_mask: Tensor
    response_mask: Tensor
    """1 on response tokens (including the end-of-turn token when the model stopped)."""
    reward: Tensor
    """[batch] reward model scores (higher = more helpful)."""
    cost: Tensor
    """[batch] cost model scores (> 0 = unsafe)."""
    truncated: int = 0

    @property
    def action_mask(self) -> Tensor:
        """Response mask aligned with next-token log-probs (column t predicts token t + 1)."""
        return self.response_mask[:, 1:]


def load_prompts(config: SafeRLHFConfig) -> list[Sample]:
    """Harmful and benign training prompts, labelled `prompt_harmful`; the demo's built-in
    80 training prompts when no file is given."""
    if config.harmful_prompts is None and config.benign_prompts is None:
        from safealign.demo_data import align_prompts  # package data, only for this default

        prompts = align_prompts()
    else:
        prompts = []
        for path, limit, harmful in (
            (config.harmful_prompts, config.harmful_limit, True),
            (config.benign_prompts, config.benign_limit, False),
        ):
            if path is None:
                continue
            for sample in read_samples(path, limit=limit, column_map=config.prompt_column_map):
                sample.prompt_harmful = harmful
                sample.responses = []
                prompts.append(sample)
    if not prompts:
        raise ConfigError(
            "safe_rlhf: no training prompts. Set safe_rlhf.harmful_prompts and/or "
            "safe_rlhf.benign_prompts to prompt files (not evaluation sets)."
        )
    return prompts


def prompt_batch(
    prompts: Sequence[Sample], iteration: int, size: int, seed: int, process: int, processes: int
) -> list[Sample]:
    """This process's prompts for `iteration`: consecutive slots of seeded per-epoch
    permutations, so any iteration's batch is known without replaying the ones before it
    (an exact resume needs nothing but the iteration number)."""
    count = len(prompts)
    start = (iteration * processes + process) * size
    batch = []
    for slot in range(start, start + size):
        epoch, position = divmod(slot, count)
        generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
        batch.append(prompts[int(torch.randperm(count, generator=generator)[position])])
    return batch


def collect_rollout(
    loaded: LoadedModel,
    prompts: list[Sample],
    config: SafeRLHFConfig,
    reward_scorer: Scorer,
    cost_scorer: Scorer,
    *,
    seed: int,
    max_length: int,
    max_prompt_length: int,
    system_prompt: str | None = None,
) -> Rollout:
    """Sample one response per prompt from the policy (`loaded.model` as it is now), tokenize
    prompt+response, and score the responses with the reward and cost models."""
    conversations = [p.conversation for p in prompts]
    loaded.model.eval()
    generations = generate(
        loaded,
        conversations,
        GenerationConfig(
            max_new_tokens=config.max_new_tokens,
            temperature=config.temperature,
            top_p=config.top_p,
            batch_size=config.generation_batch_size,
            seed=seed,
            system_prompt=system_prompt,
        ),
        progress=False,
    )
    responses = [g[0].output for g in generations]
    tokens = [
        tokenize_prompt_response(
            loaded.tokenizer,
            conversation,
            text,
            max_length=max_length,
            max_prompt_length=max_prompt_length,
            # A response cut by max_new_tokens has no end-of-turn token to learn; an empty
            # one keeps it so that every row has at least one action.
            end_with_eos=g[0].finish_reason == "stop" or not text,
            system_prompt=system_prompt,
        )
        for conversation, text, g in zip(conversations, responses, generations, strict=True)
    ]
    batch = collate_pairs(tokens, loaded.tokenizer.pad_token_id)
    # Scorers read the conversation as the policy saw it (with the same system prompt).
    scored = [as_messages(c, system_prompt) for c in conversations]
    return Rollout(
        prompts=list(prompts),
        responses=responses,
        input_ids=batch["input_ids"],
        attention_mask=batch["attention_mask"],
        response_mask=batch["response_mask"],
        reward=reward_scorer(scored, responses).float().cpu(),
        cost=cost_scorer(scored, responses).float().cpu(),
        truncated=sum(t.truncated for t in tokens),
    )
