import pytest
import torch

from safealign.errors import ModelLoadError
from safealign.models import load_model
from safealign.models.devices import resolve_dtype
from safealign.models.loading import embedded_checkpoint


def test_missing_local_path_names_it_and_suggests_fixes(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(ModelLoadError, match="Model path not found: .*no-such-model.*'embedded'"):
        load_model(str(missing))


def test_folder_without_config_is_not_a_checkpoint(tmp_path):
    with pytest.raises(ModelLoadError, match="no config.json"):
        load_model(str(tmp_path))


def test_unreachable_hub_id_says_the_hub_is_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="Could not load model 'someone/not-cached-model'"):
        load_model("someone/not-cached-model")


def test_local_checkpoint_round_trip(tiny, tmp_path):
    tiny.model.save_pretrained(tmp_path)
    tiny.tokenizer.save_pretrained(tmp_path)
    loaded = load_model(str(tmp_path), device="cpu")
    ids = torch.tensor([[1, 2, 3, 4]])
    with torch.no_grad():
        assert torch.allclose(loaded.model(ids).logits, tiny.model(ids).logits, atol=1e-6)
    assert loaded.tokenizer.chat_template == tiny.tokenizer.chat_template
    assert loaded.tokenizer.padding_side == "left"


def test_resolve_dtype():
    assert resolve_dtype("float32") is torch.float32
    assert resolve_dtype("bfloat16") is torch.bfloat16
    assert resolve_dtype("auto", torch.device("cpu")) in (torch.float32, torch.bfloat16)
    with pytest.raises(ValueError, match="unknown dtype"):
        resolve_dtype("float8")


@pytest.mark.slow
def test_embedded_model_is_cached_plain_checkpoint(embedded):
    checkpoint = embedded_checkpoint()
    assert (checkpoint / "model.safetensors").is_file()
    assert getattr(embedded.model, "hf_quantizer", None) is None
    assert not hasattr(embedded.model.config, "quantization_config")
    assert "<|im_start|>" in embedded.chat_template
    assert sum(p.numel() for p in embedded.model.parameters()) > 100_000_000


def _trained_adapter(tiny, tmp_path):
    """A saved base checkpoint and a LoRA adapter on it with non-zero weights (trained)."""
    import json

    from peft import LoraConfig, get_peft_model

    base = tmp_path / "base"
    tiny.model.save_pretrained(base)
    tiny.tokenizer.save_pretrained(base)
    peft_model = get_peft_model(
        load_model(str(base), device="cpu").model,
        LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False),
    )
    adapter = tmp_path / "run" / "adapter"
    peft_model.save_pretrained(adapter)
    (adapter / "safealign_adapter.json").write_text(json.dumps({"base_model": str(base)}))
    return peft_model, adapter


def test_adapter_and_run_folders_load_onto_their_base_merged(tiny, tmp_path):
    peft_model, adapter = _trained_adapter(tiny, tmp_path)
    ids = torch.tensor([[1, 2, 3, 4]])
    with torch.no_grad():
        expected = peft_model(ids).logits
        assert not torch.allclose(expected, tiny.model(ids).logits, atol=1e-4)  # LoRA matters
        for spec in (adapter, adapter.parent):  # the adapter folder, or the run folder
            loaded = load_model(str(spec), device="cpu")
            assert not hasattr(loaded.model, "peft_config")  # merged: a plain model
            assert torch.allclose(loaded.model(ids).logits, expected, atol=1e-5)
            assert loaded.name.endswith(str(adapter))


def test_adapter_without_recorded_base_says_how_to_fix(tiny, tmp_path):
    import json

    _, adapter = _trained_adapter(tiny, tmp_path)
    (adapter / "safealign_adapter.json").unlink()
    config = json.loads((adapter / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = None
    (adapter / "adapter_config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="without a recorded base model.*base_model"):
        load_model(str(adapter))


def test_load_trained_without_merge_keeps_the_peft_model(tiny, tmp_path):
    from safealign.train import load_trained

    peft_model, adapter = _trained_adapter(tiny, tmp_path)
    loaded = load_trained(adapter.parent, device="cpu", merge=False)
    assert hasattr(loaded.model, "peft_config")
    ids = torch.tensor([[1, 2, 3, 4]])
    with torch.no_grad():
        assert torch.allclose(loaded.model(ids).logits, peft_model(ids).logits, atol=1e-5)
