import numpy as np
import pytest
import torch

from studio.embedding import format_query, load_model
from studio.embedding.pooling import last_token_pool
from tests.tiny_models import build_tiny_decoder, build_tiny_encoder


@pytest.fixture(scope="module")
def decoder_dir(tmp_path_factory):
    return build_tiny_decoder(tmp_path_factory.mktemp("decoder"))


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory):
    return build_tiny_encoder(tmp_path_factory.mktemp("encoder"))


def test_last_token_pool_reads_last_real_token_under_both_paddings():
    hidden = torch.arange(2 * 4 * 1, dtype=torch.float32).view(2, 4, 1)
    right = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    left = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]])
    assert last_token_pool(hidden, right).squeeze(-1).tolist() == [1.0, 7.0]
    assert last_token_pool(hidden, left).squeeze(-1).tolist() == [3.0, 7.0]


def test_decoder_folder_resolves_to_last_pooling_and_appends_eos(decoder_dir):
    model = load_model(str(decoder_dir), device="cpu")
    assert model.pooling == "last"
    eos = model.tokenizer.eos_token_id
    # The tiny tokenizer does not add EOS on its own; the model must have made it.
    features = model.tokenize(["the quick brown fox", "a dog"])
    for ids, mask in zip(features["input_ids"], features["attention_mask"]):
        assert ids[mask.bool()][-1].item() == eos


def test_last_token_embeddings_equal_under_left_and_right_padding(decoder_dir):
    model = load_model(str(decoder_dir), device="cpu")
    texts = ["the quick brown fox jumps over the lazy dog", "a dog", "cats"]
    model.tokenizer.padding_side = "right"
    right = model.encode_documents(texts)
    model.tokenizer.padding_side = "left"
    left = model.encode_documents(texts)
    one_by_one = np.stack([model.encode_documents([t])[0] for t in texts])
    np.testing.assert_allclose(right, one_by_one, atol=1e-5)
    np.testing.assert_allclose(left, one_by_one, atol=1e-5)


def test_embeddings_are_unit_float32_and_queries_get_the_instruction(decoder_dir):
    model = load_model(str(decoder_dir), device="cpu")
    queries = model.encode_queries(["what do cats eat"], instruction="Retrieve documents that answer")
    assert queries.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(queries, axis=1), 1.0, atol=1e-5)
    formatted = model.encode_documents(["Instruct: Retrieve documents that answer\nQuery: what do cats eat"])
    np.testing.assert_allclose(queries, formatted, atol=1e-6)
    plain = model.encode_queries(["what do cats eat"])
    assert not np.allclose(plain, queries, atol=1e-3)
    assert format_query("q", None) == "q"
    assert format_query("q", "Do it") == "Instruct: Do it\nQuery: q"


def test_encoder_folder_uses_mean_pooling(encoder_dir):
    model = load_model(str(encoder_dir), device="cpu")
    assert model.pooling == "mean"
    assert model.encode_documents(["one", "two words here"]).shape == (2, 32)


def test_minilm_matches_sentence_transformers():
    from sentence_transformers import SentenceTransformer

    from studio.model_registry import minilm_dir

    model = load_model("minilm", device="cpu")
    assert model.pooling == "mean" and model.max_length == 256
    texts = ["A cat sits on the mat.", "Protein folding decides function. " * 60]
    ours = model.encode_documents(texts)
    theirs = SentenceTransformer(str(minilm_dir()), device="cpu").encode(texts)
    assert np.min(np.sum(ours * theirs, axis=1)) > 0.9999


def test_a_lora_adapter_folder_loads_merged_into_its_base(decoder_dir, tmp_path):
    import json

    from peft import LoraConfig, get_peft_model
    from transformers import AutoModel

    from studio.errors import StudioError

    torch.manual_seed(0)
    peft_model = get_peft_model(AutoModel.from_pretrained(decoder_dir), LoraConfig(r=4, target_modules=["q_proj", "v_proj"]))
    for name, parameter in peft_model.named_parameters():
        if "lora_B" in name:  # B starts at zero, which would make the adapter a no-op
            torch.nn.init.normal_(parameter, std=0.5)
    adapter = tmp_path / "lora_adapter"
    peft_model.save_pretrained(adapter)
    settings = json.loads((adapter / "adapter_config.json").read_text())
    settings["base_model_name_or_path"] = str(decoder_dir)
    (adapter / "adapter_config.json").write_text(json.dumps(settings))

    texts = ["a short text", "another, longer text about cats"]
    merged = load_model(str(adapter), device="cpu")
    base = load_model(str(decoder_dir), device="cpu")
    assert merged.pooling == "last"
    expected_backbone = peft_model.merge_and_unload().eval()
    expected = load_model(str(decoder_dir), device="cpu")
    expected.backbone = expected_backbone
    np.testing.assert_allclose(merged.encode(texts), expected.encode(texts), atol=1e-5)
    assert not np.allclose(merged.encode(texts), base.encode(texts), atol=1e-3)

    settings["base_model_name_or_path"] = None
    (adapter / "adapter_config.json").write_text(json.dumps(settings))
    with pytest.raises(StudioError, match="does not name its base model"):
        load_model(str(adapter), device="cpu")


def test_an_exported_decoder_reloaded_with_smollm2s_own_tokenizer_ends_every_text_in_eos(tmp_path):
    """SmolLM2's tokenizer (read from the bundled GGUF) does not append EOS by itself; the exported
    folder's tokenizer must, for transformers and sentence-transformers alike, padded or not."""
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModel, AutoTokenizer

    from studio.embedding.model import EmbeddingModel
    from studio.model_registry import smollm2_gguf
    from studio.training.export import export_model

    gguf = smollm2_gguf()
    smollm2 = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    assert smollm2("hello")["input_ids"][-1] != smollm2.eos_token_id
    folder = build_tiny_decoder(tmp_path / "tiny", tokenizer=smollm2)
    model = EmbeddingModel(AutoModel.from_pretrained(str(folder)), smollm2, "last", 64)
    out = tmp_path / "exported"
    export_model(model, out, "smollm2", {"temperature": 0.02}, {}, {})

    texts = ["short", "a much longer text with several more words in it", "Instruct: find it\nQuery: what?"]
    reloaded = AutoTokenizer.from_pretrained(str(out))
    assert reloaded.eos_token == "<|im_end|>" and len(reloaded) == len(smollm2)
    assert all(ids[-1] == reloaded.eos_token_id for ids in reloaded(texts)["input_ids"])
    features = SentenceTransformer(str(out), device="cpu").tokenize(texts)  # one padded batch
    last = features["attention_mask"].sum(dim=1) - 1
    if reloaded.padding_side == "left":
        last = torch.full_like(last, features["input_ids"].shape[1] - 1)
    assert (features["input_ids"][torch.arange(len(texts)), last] == reloaded.eos_token_id).all()
