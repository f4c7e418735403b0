from safealign.data.schema import Message
from safealign.models import end_of_turn_ids, render_prompt, tiny_tokenizer
from safealign.models.chat import as_messages


def test_tiny_tokenizer_round_trips_any_text():
    tokenizer = tiny_tokenizer()
    text = "héllo wörld ☃ <b>tags</b>\n\ttabs"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == text
    assert tokenizer.padding_side == "left"
    assert tokenizer.pad_token_id != tokenizer.eos_token_id


def test_render_prompt_applies_template_and_opens_assistant_turn():
    tokenizer = tiny_tokenizer()
    text = render_prompt(tokenizer, "Hi there")
    assert text == "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n"


def test_render_prompt_prefills_assistant_without_closing_the_turn():
    tokenizer = tiny_tokenizer()
    text = render_prompt(tokenizer, [Message("user", "Q")], assistant_prefix="Sure, here")
    assert text.endswith("<|im_start|>assistant\nSure, here")
    assert not text.endswith("<|im_end|>\n")


def test_system_prompt_goes_first_unless_one_exists():
    messages = as_messages("Q", system_prompt="Be safe.")
    assert [m.role for m in messages] == ["system", "user"]
    given = [Message("system", "Own."), Message("user", "Q")]
    assert as_messages(given, system_prompt="Be safe.")[0].content == "Own."


def test_end_of_turn_ids_include_eos():
    tokenizer = tiny_tokenizer()
    assert tokenizer.eos_token_id in end_of_turn_ids(tokenizer)
    assert tokenizer.convert_tokens_to_ids("<|im_end|>") in end_of_turn_ids(tokenizer)
