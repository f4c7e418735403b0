"""Turning conversations into model input text with the model's own chat template."""

from __future__ import annotations

from collections.abc import Sequence

from transformers import PreTrainedTokenizerBase

from safealign.data.schema import Message, messages_to_dicts

Conversation = Sequence[Message] | str


def as_messages(conversation: Conversation, system_prompt: str | None = None) -> list[Message]:
    """A plain string is one user turn; an optional system prompt goes first."""
    messages = (
        [Message("user", conversation)] if isinstance(conversation, str) else list(conversation)
    )
    if system_prompt and not (messages and messages[0].role == "system"):
        messages.insert(0, Message("system", system_prompt))
    return messages


def render_prompt(
    tokenizer: PreTrainedTokenizerBase,
    conversation: Conversation,
    *,
    assistant_prefix: str | None = None,
    system_prompt: str | None = None,
) -> str:
    """The text the model continues: the chat template with the assistant turn opened.

    `assistant_prefix` is put inside the open assistant turn, with no end-of-turn token after it,
    so the model continues it (prefilling, as C2-Eval and prefill attacks need).
    """
    messages = as_messages(conversation, system_prompt)
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(
            messages_to_dicts(messages), tokenize=False, add_generation_prompt=True
        )
    else:  # base models without a template: a plain transcript
        text = "".join(f"{m.role.capitalize()}: {m.content}\n" for m in messages) + "Assistant:"
        if assistant_prefix:
            text += " "
    return text + (assistant_prefix or "")


def end_of_turn_ids(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """Token ids that end an assistant turn: EOS plus the template's turn-end marker if any."""
    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    for marker in ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "</s>"):
        token_id = tokenizer.convert_tokens_to_ids(marker)
        if isinstance(token_id, int) and token_id != tokenizer.unk_token_id and token_id >= 0:
            ids.add(token_id)
    return sorted(ids)
